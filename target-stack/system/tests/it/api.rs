//! Every endpoint's success and error codes, against the real API on a random port.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestEnv, fake_mp4, on_both_backends};

on_both_backends!(
    signup_refuses_duplicates_mismatches_and_bad_fields,
    login_issues_an_expiring_bearer_token,
    tokens_that_are_missing_forged_or_expired_get_401,
    upload_queues_a_task_and_the_owner_sees_the_video,
    refused_uploads_store_nothing,
    another_users_video_is_forbidden,
    delete_removes_an_unpublished_video_and_refuses_a_published_one,
    votes_count_once_per_user_and_rankings_filter_by_city,
    health_metrics_and_openapi_answer,
);

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn assert_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body = json_of(response).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Marks a video processed as the worker would, without running ffmpeg.
async fn publish(env: &TestEnv, video_id: i64) {
    let db = &env.backends.db;
    db.start_processing(video_id).await.unwrap().unwrap();
    assert!(
        db.finish_processing(video_id, &format!("processed/{video_id}.mp4"))
            .await
            .unwrap()
    );
}

async fn signup_refuses_duplicates_mismatches_and_bad_fields(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let created = app.signup("ana@example.com", "Bogotá").await;
    assert_eq!(created.status(), 201);
    assert!(json_of(created).await["message"].is_string());
    assert_error(
        app.signup("ANA@example.com", "Cali").await,
        400,
        "email_taken",
    )
    .await;

    let base = json!({
        "first_name": "Luis", "last_name": "Díaz", "email": "luis@example.com",
        "password1": "s3cret-pass", "password2": "s3cret-pass", "city": "Cali", "country": "CO",
    });
    let post = |body: Value| {
        app.client
            .post(app.url("/api/auth/signup"))
            .json(&body)
            .send()
    };
    let mut differ = base.clone();
    differ["password2"] = json!("other-pass");
    assert_error(post(differ).await.unwrap(), 400, "passwords_differ").await;
    let mut bad_email = base.clone();
    bad_email["email"] = json!("not-an-email");
    assert_error(post(bad_email).await.unwrap(), 400, "invalid_email").await;
    let mut short = base.clone();
    short["password1"] = json!("short");
    short["password2"] = json!("short");
    assert_error(post(short).await.unwrap(), 400, "weak_password").await;
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("city");
    let response = post(missing).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        json_of(response).await["message"]
            .as_str()
            .unwrap()
            .contains("city")
    );
    let mut blank = base.clone();
    blank["first_name"] = json!("   ");
    assert_error(post(blank).await.unwrap(), 400, "invalid_field").await;
    // Nothing above created luis.
    assert_eq!(post(base).await.unwrap().status(), 201);
}

async fn login_issues_an_expiring_bearer_token(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    assert_eq!(app.signup("ana@example.com", "Bogotá").await.status(), 201);
    let login = |email: &str, password: &str| {
        app.client
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let ok = json_of(login("ana@example.com", "s3cret-pass").await.unwrap()).await;
    assert_eq!(ok["token_type"], "Bearer");
    assert_eq!(ok["expires_in"], 3600);
    assert!(ok["access_token"].as_str().unwrap().split('.').count() == 3);

    let wrong = login("ana@example.com", "wrong-pass").await.unwrap();
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    assert_error(wrong, 401, "unauthorized").await;
    assert_error(
        login("nobody@example.com", "s3cret-pass").await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let malformed = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(malformed, 400, "invalid_request").await;
}

async fn tokens_that_are_missing_forged_or_expired_get_401(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let token = app.user("ana@example.com", "Bogotá").await;
    assert_eq!(app.get("/api/videos", Some(&token)).await.status(), 200);
    assert_error(app.get("/api/videos", None).await, 401, "unauthorized").await;

    let forger = target_stack::auth::Tokens::new(
        &target_stack::config::Secret::new("another-secret-another-secret-0123456".into()),
        std::time::Duration::from_secs(3600),
    );
    let forged = forger.issue(1);
    assert_error(
        app.get("/api/videos", Some(&forged)).await,
        401,
        "unauthorized",
    )
    .await;

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = env.tokens().issue_at(1, now - 7200);
    assert_error(
        app.get("/api/videos", Some(&expired)).await,
        401,
        "unauthorized",
    )
    .await;
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert_error(
        app.get("/api/videos", Some(&tampered)).await,
        401,
        "unauthorized",
    )
    .await;
}

async fn upload_queues_a_task_and_the_owner_sees_the_video(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let token = app.user("ana@example.com", "Bogotá").await;
    let file = fake_mp4(300_000);
    let response = app
        .upload(&token, Some("Mi mejor jugada"), file.clone())
        .await;
    assert_eq!(response.status(), 201);
    let body = json_of(response).await;
    let task_id = body["task_id"].as_str().unwrap().to_string();
    let video_id = body["video_id"].as_i64().unwrap();

    // The bytes are stored whole, and the task on the queue names them.
    let deliveries = env
        .backends
        .queue
        .receive(10, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    let task = target_stack::queue::TaskMessage::parse(&deliveries[0].body).unwrap();
    assert_eq!(
        (task.task_id.as_str(), task.video_id),
        (task_id.as_str(), video_id)
    );
    assert_eq!(
        env.backends.storage.size(&task.original_key).await.unwrap(),
        file.len() as u64
    );

    let list = json_of(app.get("/api/videos", Some(&token)).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["video_id"], video_id);
    assert_eq!(list[0]["status"], "uploaded");
    assert!(list[0]["processed_url"].is_null());

    let one = json_of(
        app.get(&format!("/api/videos/{video_id}"), Some(&token))
            .await,
    )
    .await;
    assert_eq!(one["title"], "Mi mejor jugada");
    assert_eq!(one["votes"], 0);
    assert_eq!(
        one["original_url"],
        format!("/api/videos/{video_id}/original")
    );
    assert_error(
        app.get("/api/videos/999999", Some(&token)).await,
        404,
        "not_found",
    )
    .await;
    // Not public until processed.
    assert_eq!(
        json_of(app.get("/api/public/videos", None).await).await,
        json!([])
    );
}

async fn refused_uploads_store_nothing(env: TestEnv) {
    let env = TestEnv::with(env.flavor, &[("ANB_MAX_UPLOAD_BYTES", "200000")])
        .await
        .unwrap();
    let app = TestApp::spawn(&env).await;
    let token = app.user("ana@example.com", "Bogotá").await;

    let not_mp4 = b"GIF89a this is not a video at all".repeat(100);
    assert_error(
        app.upload(&token, Some("gif"), not_mp4).await,
        400,
        "not_mp4",
    )
    .await;
    assert_error(
        app.upload(&token, Some("big"), fake_mp4(200_001)).await,
        400,
        "file_too_large",
    )
    .await;
    assert_error(
        app.upload(&token, None, fake_mp4(10_000)).await,
        400,
        "missing_title",
    )
    .await;
    assert_error(
        app.upload(&token, Some("   "), fake_mp4(10_000)).await,
        400,
        "invalid_title",
    )
    .await;
    assert_error(
        app.upload(&token, Some("tiny"), b"\0\0".to_vec()).await,
        400,
        "not_mp4",
    )
    .await;
    let no_file = app
        .client
        .post(app.url("/api/videos/upload"))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().text("title", "no file"))
        .send()
        .await
        .unwrap();
    assert_error(no_file, 400, "missing_file").await;
    let not_multipart = app
        .client
        .post(app.url("/api/videos/upload"))
        .bearer_auth(&token)
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(not_multipart, 400, "invalid_request").await;
    let anonymous = app
        .client
        .post(app.url("/api/videos/upload"))
        .multipart(reqwest::multipart::Form::new().text("title", "x"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;

    assert_eq!(env.stored_files().await, Vec::<String>::new());
    assert_eq!(
        json_of(app.get("/api/videos", Some(&token)).await).await,
        json!([])
    );
    let depth = env.backends.queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));

    // Exactly at the limit is accepted.
    assert_eq!(
        app.upload(&token, Some("edge"), fake_mp4(200_000))
            .await
            .status(),
        201
    );
}

async fn another_users_video_is_forbidden(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let ana = app.user("ana@example.com", "Bogotá").await;
    let luis = app.user("luis@example.com", "Cali").await;
    let video_id =
        json_of(app.upload(&ana, Some("de Ana"), fake_mp4(5_000)).await).await["video_id"]
            .as_i64()
            .unwrap();
    let path = format!("/api/videos/{video_id}");
    assert_error(app.get(&path, Some(&luis)).await, 403, "forbidden").await;
    let delete = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&luis)
        .send()
        .await
        .unwrap();
    assert_error(delete, 403, "forbidden").await;
    assert_eq!(
        json_of(app.get("/api/videos", Some(&luis)).await).await,
        json!([])
    );
    assert_eq!(app.get(&path, Some(&ana)).await.status(), 200);
}

async fn delete_removes_an_unpublished_video_and_refuses_a_published_one(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let ana = app.user("ana@example.com", "Bogotá").await;
    let draft =
        json_of(app.upload(&ana, Some("borrador"), fake_mp4(5_000)).await).await["video_id"]
            .as_i64()
            .unwrap();
    let published =
        json_of(app.upload(&ana, Some("final"), fake_mp4(5_000)).await).await["video_id"]
            .as_i64()
            .unwrap();
    publish(&env, published).await;
    assert_eq!(env.stored_files().await.len(), 2);

    let delete = |id: i64| {
        app.client
            .delete(app.url(&format!("/api/videos/{id}")))
            .bearer_auth(&ana)
            .send()
    };
    let deleted = delete(draft).await.unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(json_of(deleted).await["video_id"], draft);
    assert_error(delete(draft).await.unwrap(), 404, "not_found").await;
    assert_error(delete(published).await.unwrap(), 400, "video_published").await;
    assert_eq!(
        env.stored_files().await.len(),
        1,
        "the draft's file is removed with it"
    );
    let list = json_of(app.get("/api/videos", Some(&ana)).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn votes_count_once_per_user_and_rankings_filter_by_city(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let ana = app.user("ana@example.com", "Bogotá").await;
    let luis = app.user("luis@example.com", "Cali").await;
    let eva = app.user("eva@example.com", "Cali").await;
    let upload = |token: String, title: &'static str| {
        let app = &app;
        async move {
            json_of(app.upload(&token, Some(title), fake_mp4(5_000)).await).await["video_id"]
                .as_i64()
                .unwrap()
        }
    };
    let ana_video = upload(ana.clone(), "golazo").await;
    let luis_video = upload(luis.clone(), "tapa").await;
    let unprocessed = upload(eva.clone(), "pendiente").await;
    publish(&env, ana_video).await;
    publish(&env, luis_video).await;

    let vote = |token: &str, id: i64| {
        app.client
            .post(app.url(&format!("/api/public/videos/{id}/vote")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(vote(&luis, ana_video).await.unwrap().status(), 200);
    assert_eq!(vote(&eva, ana_video).await.unwrap().status(), 200);
    assert_eq!(vote(&ana, luis_video).await.unwrap().status(), 200);
    assert_error(vote(&luis, ana_video).await.unwrap(), 400, "already_voted").await;
    assert_error(vote(&ana, unprocessed).await.unwrap(), 404, "not_found").await;
    assert_error(vote(&ana, 424242).await.unwrap(), 404, "not_found").await;
    let anonymous = app
        .client
        .post(app.url(&format!("/api/public/videos/{ana_video}/vote")))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;

    let public = json_of(app.get("/api/public/videos", None).await).await;
    let public = public.as_array().unwrap();
    assert_eq!(public.len(), 2, "only processed videos are public");
    let golazo = public.iter().find(|v| v["video_id"] == ana_video).unwrap();
    assert_eq!(golazo["votes"], 2);
    let one_per_page = json_of(app.get("/api/public/videos?per_page=1&page=2", None).await).await;
    assert_eq!(one_per_page.as_array().unwrap().len(), 1);

    let all = json_of(app.get("/api/public/rankings", None).await).await;
    assert_eq!(all[0]["position"], 1);
    assert_eq!(all[0]["city"], "Bogotá");
    assert_eq!(all[0]["votes"], 2);
    assert_eq!(all[1]["position"], 2);
    assert_eq!(all[1]["votes"], 1);
    assert_eq!(all.as_array().unwrap().len(), 2);

    let cali = json_of(app.get("/api/public/rankings?city=cali", None).await).await;
    assert_eq!(cali.as_array().unwrap().len(), 1);
    assert_eq!(cali[0]["position"], 1);
    assert_eq!(cali[0]["city"], "Cali");
    assert_eq!(cali[0]["votes"], 1);
    let nowhere = json_of(app.get("/api/public/rankings?city=Lima", None).await).await;
    assert_eq!(nowhere, json!([]));
    let second_page = json_of(
        app.get("/api/public/rankings?per_page=1&page=2", None)
            .await,
    )
    .await;
    assert_eq!(second_page[0]["position"], 2);

    assert_error(
        app.get("/api/public/rankings?per_page=0", None).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        app.get("/api/public/rankings?page=abc", None).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        app.get("/api/public/rankings?city=", None).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        app.get("/api/public/videos?per_page=500", None).await,
        400,
        "invalid_parameters",
    )
    .await;
}

async fn health_metrics_and_openapi_answer(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    let health = app.get("/health", None).await;
    assert_eq!(health.status(), 200);
    let body = json_of(health).await;
    assert_eq!(
        body,
        json!({"status": "ok", "database": "ok", "storage": "ok", "queue": "ok"})
    );
    assert_eq!(app.get("/api/health", None).await.status(), 200);

    let token = app.user("ana@example.com", "Bogotá").await;
    assert_eq!(app.get("/api/videos/1", Some(&token)).await.status(), 404);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"anb_http_requests_total{method="POST",route="/api/auth/signup",status="201"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/videos/{video_id}",status="404"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("anb_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("anb_http_in_flight_requests"), "{metrics}");

    let doc = json_of(app.get("/api/openapi.json", None).await).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/auth/signup", "post"),
        ("/api/auth/login", "post"),
        ("/api/videos/upload", "post"),
        ("/api/videos", "get"),
        ("/api/videos/{video_id}", "get"),
        ("/api/videos/{video_id}", "delete"),
        ("/api/public/videos", "get"),
        ("/api/public/videos/{video_id}/vote", "post"),
        ("/api/public/rankings", "get"),
        ("/health", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
}
