//! The API's contract at its edges (issue 17): one JSON error shape for every failure, a
//! deleted account's token, uploads that only look like MP4s, files served by the API
//! instead of storage locations, and an OpenAPI document that says what the code accepts.

use serde_json::{Value, json};
use target_stack::config::DatabaseUrl;

use crate::helpers::{TestApp, TestEnv, fake_mp4, have_ffmpeg, on_both_backends, real_mp4};

on_both_backends!(
    every_error_answers_the_json_shape_with_its_status,
    a_token_whose_user_was_deleted_gets_401_not_500,
    a_file_that_only_starts_like_an_mp4_is_refused_and_nothing_stored,
    no_response_names_a_storage_location,
    the_processed_file_is_public_and_the_original_is_the_owners,
);

/// Asserts the status and the `{"error", "message"}` shape; returns the body.
async fn assert_json_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let what = format!("{} {}", response.url().path(), response.status());
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{what}: {body}");
    body
}

/// Marks a video processed as the worker would, with `bytes` as its processed file.
async fn publish_with_file(env: &TestEnv, video_id: i64, bytes: &[u8]) {
    let key = format!("processed/{video_id}.mp4");
    let file = env.dir.path().join(format!("processed-{video_id}.mp4"));
    std::fs::write(&file, bytes).unwrap();
    env.backends.storage.put_file(&key, &file).await.unwrap();
    let db = &env.backends.db;
    db.start_processing(video_id).await.unwrap().unwrap();
    assert!(db.finish_processing(video_id, &key).await.unwrap());
}

async fn upload_id(app: &TestApp, token: &str, title: &str, file: Vec<u8>) -> i64 {
    let response = app.upload(token, Some(title), file).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["video_id"].as_i64().unwrap()
}

async fn every_error_answers_the_json_shape_with_its_status(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let token = app.user("ana@example.com", "Bogotá").await;
    let client = &app.client;

    // Issue 17: a path parameter that is not a number was a text/plain 400.
    assert_json_error(
        app.get("/api/videos/abc", Some(&token)).await,
        400,
        "invalid_path",
    )
    .await;
    assert_json_error(
        app.get("/api/videos/99999999999999999999999", Some(&token))
            .await,
        400,
        "invalid_path",
    )
    .await;
    let vote = client
        .post(app.url("/api/public/videos/abc/vote"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_json_error(vote, 400, "invalid_path").await;
    let delete = client
        .delete(app.url("/api/videos/1.5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_json_error(delete, 400, "invalid_path").await;
    assert_json_error(
        app.get("/api/videos/abc/processed", None).await,
        400,
        "invalid_path",
    )
    .await;

    // Unknown routes were an empty 404, wrong methods an empty 405.
    for path in [
        "/api/nothing-here",
        "/nothing",
        "/api/videos/1/other",
        "/api",
    ] {
        let body = assert_json_error(app.get(path, Some(&token)).await, 404, "not_found").await;
        assert!(body["message"].as_str().unwrap().contains(path), "{body}");
    }
    let wrong_method = client
        .delete(app.url("/api/public/rankings"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.headers()["allow"], "GET,HEAD");
    let body = assert_json_error(wrong_method, 405, "method_not_allowed").await;
    assert!(
        body["message"].as_str().unwrap().contains("DELETE"),
        "{body}"
    );
    let wrong_method = client
        .put(app.url("/api/videos/upload"))
        .send()
        .await
        .unwrap();
    assert_json_error(wrong_method, 405, "method_not_allowed").await;
    let wrong_method = client.post(app.url("/health")).send().await.unwrap();
    assert_json_error(wrong_method, 405, "method_not_allowed").await;

    // The errors that were already JSON stay so.
    assert_json_error(app.get("/api/videos", None).await, 401, "unauthorized").await;
    assert_json_error(
        app.get("/api/public/rankings?page=0", None).await,
        400,
        "invalid_parameters",
    )
    .await;
    let not_json = client
        .post(app.url("/api/auth/login"))
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert_json_error(not_json, 400, "invalid_request").await;
}

/// Deletes a user straight in the database, as an operator (or a test) can.
async fn delete_user_in_db(env: &TestEnv, email: &str) {
    sqlx::any::install_default_drivers();
    let url = match &env.settings.database {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseUrl::Postgres(url) => url.expose().to_owned(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let done = sqlx::query("DELETE FROM users WHERE email = $1")
        .bind(email)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    pool.close().await;
}

async fn a_token_whose_user_was_deleted_gets_401_not_500(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let ana = app.user("ana@example.com", "Bogotá").await;
    let gone = app.user("gone@example.com", "Cali").await;
    let video = upload_id(&app, &ana, "golazo", fake_mp4(5_000)).await;
    publish_with_file(&env, video, b"processed").await;
    let stored_before = env.stored_files().await;
    delete_user_in_db(&env, "gone@example.com").await;

    // Issue 17: both were 500 (a foreign-key failure).
    let body = assert_json_error(
        app.upload(&gone, Some("huérfano"), fake_mp4(5_000)).await,
        401,
        "unauthorized",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no longer exists"),
        "{body}"
    );
    let vote = app
        .client
        .post(app.url(&format!("/api/public/videos/{video}/vote")))
        .bearer_auth(&gone)
        .send()
        .await
        .unwrap();
    assert_json_error(vote, 401, "unauthorized").await;

    assert_eq!(
        env.stored_files().await,
        stored_before,
        "the refused upload left nothing"
    );
    let depth = env.backends.queue.depth().await.unwrap();
    assert_eq!(depth.visible, 1, "only ana's upload was queued");
    let video = env.backends.db.video(video).await.unwrap().unwrap();
    assert_eq!(video.votes, 0);
}

async fn a_file_that_only_starts_like_an_mp4_is_refused_and_nothing_stored(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let token = app.user("ana@example.com", "Bogotá").await;

    // Issue 17: twelve bytes of MP4 header were stored and queued for ffmpeg.
    let header_only = b"\0\0\0\x20ftypisom".to_vec();
    let body = assert_json_error(
        app.upload(&token, Some("cabecera"), header_only).await,
        400,
        "not_a_video",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("truncated"),
        "{body}"
    );
    let mut ftyp_only = b"\0\0\0\x14ftypisom\0\0\x02\0isom".to_vec();
    assert_json_error(
        app.upload(&token, Some("sin moov"), ftyp_only.clone())
            .await,
        400,
        "not_a_video",
    )
    .await;
    // A real-looking file cut short in its media data.
    let mut cut = fake_mp4(100_000);
    cut.truncate(60_000);
    assert_json_error(
        app.upload(&token, Some("cortado"), cut).await,
        400,
        "not_a_video",
    )
    .await;
    // Junk after the last box.
    ftyp_only.extend(fake_mp4(1_000).split_off(32));
    ftyp_only.extend_from_slice(&[0xff; 64]);
    assert_json_error(
        app.upload(&token, Some("cola"), ftyp_only).await,
        400,
        "not_a_video",
    )
    .await;

    assert_eq!(env.stored_files().await, Vec::<String>::new());
    let depth = env.backends.queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    let mine: Value = app
        .get("/api/videos", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]));

    // What the suite's other tests upload still passes: a complete structure, and a real
    // video made by ffmpeg.
    upload_id(&app, &token, "estructura", fake_mp4(5_000)).await;
    if have_ffmpeg() {
        let real = real_mp4(env.dir.path(), 1, "160x120");
        upload_id(&app, &token, "real", std::fs::read(real).unwrap()).await;
    }
}

/// Every endpoint, successes and errors, with a processed and an unprocessed video around.
async fn no_response_names_a_storage_location(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let ana = app.user("ana@example.com", "Bogotá").await;
    let luis = app.user("luis@example.com", "Cali").await;
    let published = upload_id(&app, &ana, "golazo", fake_mp4(5_000)).await;
    let draft = upload_id(&app, &ana, "borrador", fake_mp4(5_000)).await;
    publish_with_file(&env, published, b"processed bytes").await;
    let vote = app
        .client
        .post(app.url(&format!("/api/public/videos/{published}/vote")))
        .bearer_auth(&luis)
        .send()
        .await
        .unwrap();
    assert_eq!(vote.status(), 200);

    let mut bodies = Vec::new();
    for (path, token) in [
        ("/api/videos".to_string(), Some(&ana)),
        (format!("/api/videos/{published}"), Some(&ana)),
        (format!("/api/videos/{draft}"), Some(&ana)),
        (format!("/api/videos/{draft}"), Some(&luis)),
        ("/api/public/videos".to_string(), None),
        ("/api/public/rankings".to_string(), None),
        ("/api/public/rankings?city=cali".to_string(), None),
        (format!("/api/videos/{draft}/processed"), Some(&ana)),
        (format!("/api/videos/{draft}/original"), Some(&luis)),
        ("/health".to_string(), None),
        ("/api/health".to_string(), None),
        ("/api/openapi.json".to_string(), None),
        ("/metrics".to_string(), None),
    ] {
        let response = app.get(&path, token.map(String::as_str)).await;
        bodies.push((path, response.text().await.unwrap()));
    }
    let deleted = app
        .client
        .delete(app.url(&format!("/api/videos/{draft}")))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap();
    bodies.push(("DELETE draft".into(), deleted.text().await.unwrap()));
    let upload = app.upload(&ana, Some("otro"), fake_mp4(5_000)).await;
    bodies.push(("upload".into(), upload.text().await.unwrap()));

    let data_dir = env.dir.path().display().to_string();
    for (path, body) in &bodies {
        for internal in [
            "file://",
            "s3://",
            data_dir.as_str(),
            "processed/",
            "originals/",
        ] {
            assert!(
                !body.contains(internal),
                "{path} shows {internal:?}: {body}"
            );
        }
    }
    let detail: Value = serde_json::from_str(&bodies[1].1).unwrap();
    assert_eq!(
        detail["processed_url"],
        format!("/api/videos/{published}/processed")
    );
    assert_eq!(
        detail["original_url"],
        format!("/api/videos/{published}/original")
    );
    let public: Value = serde_json::from_str(&bodies[4].1).unwrap();
    assert_eq!(
        public[0]["processed_url"],
        format!("/api/videos/{published}/processed")
    );
}

async fn the_processed_file_is_public_and_the_original_is_the_owners(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let ana = app.user("ana@example.com", "Bogotá").await;
    let luis = app.user("luis@example.com", "Cali").await;
    let original = fake_mp4(300_000);
    let video = upload_id(&app, &ana, "golazo", original.clone()).await;
    let draft = upload_id(&app, &ana, "borrador", fake_mp4(5_000)).await;
    let processed: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    publish_with_file(&env, video, &processed).await;

    // The URL the public listing gives serves the stored processed bytes, to anyone.
    let public: Value = app
        .get("/api/public/videos", None)
        .await
        .json()
        .await
        .unwrap();
    let url = public[0]["processed_url"].as_str().unwrap().to_string();
    let response = app.get(&url, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(response.headers()["content-length"], "200000");
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        processed.as_slice()
    );

    // A player seeking: one range, then a suffix; past the end is 416 in the JSON shape.
    let ranged = |range: &'static str| app.client.get(app.url(&url)).header("range", range).send();
    let part = ranged("bytes=1000-1999").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 1000-1999/200000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &processed[1000..2000]);
    let tail = ranged("bytes=-10").await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &processed[199_990..]);
    let past = ranged("bytes=200000-").await.unwrap();
    assert_eq!(past.headers()["content-range"], "bytes */200000");
    assert_json_error(past, 416, "range_not_satisfiable").await;
    assert_eq!(ranged("bytes=0-1,5-9").await.unwrap().status(), 200);

    // The original is the owner's only, even once the video is public.
    let original_url = format!("/api/videos/{video}/original");
    let mine = app.get(&original_url, Some(&ana)).await;
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.headers()["cache-control"], "private, no-store");
    assert_eq!(mine.bytes().await.unwrap().as_ref(), original.as_slice());
    assert_json_error(app.get(&original_url, Some(&luis)).await, 403, "forbidden").await;
    assert_json_error(app.get(&original_url, None).await, 401, "unauthorized").await;

    // An unprocessed video has no processed file, and says so only to its owner.
    let draft_processed = format!("/api/videos/{draft}/processed");
    assert_json_error(app.get(&draft_processed, None).await, 401, "unauthorized").await;
    assert_json_error(
        app.get(&draft_processed, Some(&luis)).await,
        403,
        "forbidden",
    )
    .await;
    assert_json_error(
        app.get(&draft_processed, Some(&ana)).await,
        404,
        "not_found",
    )
    .await;
    assert_json_error(
        app.get("/api/videos/424242/processed", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_openapi_document_says_what_the_query_parameters_accept() {
    let env = TestEnv::new(crate::helpers::Flavor::Embedded)
        .await
        .unwrap();
    let app = TestApp::spawn(&env).await;
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let params = |path: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"))
            .clone()
    };
    let find = |params: &[Value], name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
            .clone()
    };
    let max_size = i64::from(target_stack::domain::Page::MAX_SIZE);
    for path in ["/api/public/videos", "/api/public/rankings"] {
        let params = params(path);
        // Issue 17: they were documented as path parameters.
        for p in &params {
            assert_eq!(p["in"], "query", "{path}: {p}");
            assert_eq!(p["required"], false, "{path}: {p}");
        }
        let page = find(&params, "page");
        assert_eq!(page["schema"]["minimum"], 1, "{page}");
        assert_eq!(page["schema"]["maximum"], i64::from(u32::MAX), "{page}");
        let per_page = find(&params, "per_page");
        assert_eq!(per_page["schema"]["minimum"], 1, "{per_page}");
        assert_eq!(per_page["schema"]["maximum"], max_size, "{per_page}");
    }
    let city = find(&params("/api/public/rankings"), "city");
    // A pattern, not lengths: surrounding whitespace is trimmed before the 100 are counted.
    assert!(
        city["schema"]["pattern"]
            .as_str()
            .unwrap()
            .contains("{0,98}"),
        "{city}"
    );
    for (path, method) in [
        ("/api/videos/{video_id}/processed", "get"),
        ("/api/videos/{video_id}/original", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    // The bounds are the code's: the edges are accepted, one past them refused.
    let status = |query: &str| {
        let app = &app;
        let query = query.to_string();
        async move {
            app.get(&format!("/api/public/rankings?{query}"), None)
                .await
                .status()
        }
    };
    assert_eq!(
        status(&format!("page={}&per_page={max_size}", u32::MAX)).await,
        200
    );
    assert_eq!(
        status(&format!("page={}", u64::from(u32::MAX) + 1)).await,
        400
    );
    assert_eq!(status(&format!("per_page={}", max_size + 1)).await, 400);
    assert_eq!(status(&format!("city={}", "c".repeat(100))).await, 200);
    assert_eq!(status(&format!("city={}", "c".repeat(101))).await, 400);
    assert_eq!(
        status(&format!("city=%20%20{}%20", "c".repeat(100))).await,
        200
    );
    assert_eq!(status("city=%20%20").await, 400);
    assert_eq!(status("city=a%01b").await, 400);
}
