//! The repository, queue and storage contracts, one suite run on SQLite + a directory + the
//! local queue and on PostgreSQL + S3 + SQS (moto).

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use target_stack::config::DatabaseUrl;
use target_stack::db::{Database, DbError, NewUser, NewVideo};
use target_stack::domain::{Email, Label, LabelKind, Page, VideoStatus};

use crate::helpers::{TestApp, TestEnv, on_both_backends};

on_both_backends!(
    repository_keeps_users_videos_votes_and_rankings,
    rankings_follow_votes_and_deleted_videos,
    repository_records_only_the_first_completion,
    queue_hides_received_tasks_and_redelivers_unacknowledged_ones,
    queue_moves_a_task_received_too_often_to_the_dead_letter_queue,
    queue_hands_out_each_dead_letter_until_it_is_settled,
    queue_sends_batches_larger_than_sqs_allows_in_one_call,
    storage_streams_uploads_and_an_aborted_upload_leaves_nothing,
    health_is_503_when_a_dependency_is_down,
);

fn label(kind: LabelKind, text: &str) -> Label {
    Label::parse(kind, text).unwrap()
}

async fn user(env: &TestEnv, email: &str, city: &str) -> i64 {
    let email = Email::parse(email).unwrap();
    let (first, last) = (
        label(LabelKind::FirstName, "Ana"),
        label(LabelKind::LastName, email.as_str()),
    );
    let (city, country) = (
        label(LabelKind::City, city),
        label(LabelKind::Country, "CO"),
    );
    env.backends
        .db
        .insert_user(&NewUser {
            email: &email,
            password_hash: "$argon2id$not-checked-here",
            first_name: &first,
            last_name: &last,
            city: &city,
            country: &country,
        })
        .await
        .unwrap()
}

async fn video(env: &TestEnv, owner: i64, title: &str) -> i64 {
    let task_id = uuid::Uuid::new_v4().to_string();
    env.backends
        .db
        .insert_video(&NewVideo {
            owner_id: owner,
            title: &label(LabelKind::Title, title),
            task_id: &task_id,
            original_key: &format!("originals/{task_id}.mp4"),
        })
        .await
        .unwrap()
}

async fn repository_keeps_users_videos_votes_and_rankings(env: TestEnv) {
    let db = &env.backends.db;
    let ana = user(&env, "ana@example.com", "Bogotá").await;
    let luis = user(&env, "luis@example.com", "Cali").await;
    let again = NewUser {
        email: &Email::parse("ANA@example.com").unwrap(),
        password_hash: "x",
        first_name: &label(LabelKind::FirstName, "A"),
        last_name: &label(LabelKind::LastName, "B"),
        city: &label(LabelKind::City, "C"),
        country: &label(LabelKind::Country, "D"),
    };
    assert!(matches!(
        db.insert_user(&again).await,
        Err(DbError::Conflict)
    ));
    let found = db
        .user_by_email(&Email::parse("ana@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.city.as_str()), (ana, "Bogotá"));

    let first = video(&env, ana, "uno").await;
    let second = video(&env, ana, "dos").await;
    let mine = db.videos_of(ana).await.unwrap();
    assert_eq!(
        mine.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![second, first],
        "newest first"
    );
    assert!(
        mine.iter()
            .all(|v| v.status == VideoStatus::Uploaded && v.votes == 0)
    );
    assert!(db.videos_of(luis).await.unwrap().is_empty());

    assert!(db.start_processing(first).await.unwrap().is_some());
    assert!(
        db.finish_processing(first, "processed/1.mp4")
            .await
            .unwrap()
    );
    let public = db.public_videos(Page::default()).await.unwrap();
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].owner_city, "Bogotá");
    assert!(public[0].processed_at.is_some());

    db.insert_vote(first, luis).await.unwrap();
    assert!(matches!(
        db.insert_vote(first, luis).await,
        Err(DbError::Conflict)
    ));
    db.insert_vote(first, ana).await.unwrap();
    assert_eq!(db.video(first).await.unwrap().unwrap().votes, 2);

    let ranking = db.rankings(None, Page::default()).await.unwrap();
    assert_eq!(ranking.len(), 1);
    assert_eq!((ranking[0].user_id, ranking[0].votes), (ana, 2));
    let bogota = label(LabelKind::City, "BOGOTÁ");
    assert_eq!(
        db.rankings(Some(&bogota), Page::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let cali = label(LabelKind::City, "cali");
    assert!(
        db.rankings(Some(&cali), Page::default())
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        !db.delete_unpublished_video(first).await.unwrap(),
        "public videos stay"
    );
    assert!(db.delete_unpublished_video(second).await.unwrap());
    assert!(db.video(second).await.unwrap().is_none());
}

/// Rankings read the per-user counts the triggers keep (migration 0003); after votes for
/// several owners' videos and a deleted video they must equal a recount of the votes cast.
async fn rankings_follow_votes_and_deleted_videos(env: TestEnv) {
    let db = &env.backends.db;
    let cities = ["Bogotá", "Cali", "Bogotá", "Medellín", "Cali"];
    let mut owners = Vec::new();
    let mut videos = Vec::new();
    for (i, city) in cities.iter().enumerate() {
        let owner = user(&env, &format!("owner{i}@example.com"), city).await;
        owners.push((owner, *city));
        for n in 0..=i {
            videos.push((video(&env, owner, &format!("v{n}")).await, owner));
        }
    }
    let mut voters = Vec::new();
    for i in 0..6 {
        voters.push(user(&env, &format!("voter{i}@example.com"), "Lima").await);
    }
    let mut expected: HashMap<i64, i64> = HashMap::new();
    for (a, voter) in voters.iter().enumerate() {
        for (b, (video, owner)) in videos.iter().enumerate() {
            // An irregular pattern, so that owners end with different counts and ties.
            if (a * 7 + b * 3) % 4 != 0 {
                db.insert_vote(*video, *voter).await.unwrap();
                *expected.entry(*owner).or_default() += 1;
            }
        }
    }
    // Votes on a video that is then deleted stop counting (through the API only public
    // videos take votes, and those cannot be deleted; the count must hold for any delete).
    let doomed = video(&env, owners[0].0, "doomed").await;
    db.insert_vote(doomed, voters[0]).await.unwrap();
    db.insert_vote(doomed, voters[1]).await.unwrap();
    assert!(db.delete_unpublished_video(doomed).await.unwrap());

    let ranked = |city: Option<&str>| {
        let mut rows: Vec<(i64, i64)> = owners
            .iter()
            .filter(|(_, c)| city.is_none_or(|city| *c == city))
            .filter_map(|(id, _)| expected.get(id).map(|votes| (*id, *votes)))
            .filter(|(_, votes)| *votes > 0)
            .collect();
        rows.sort_by_key(|(id, votes)| (-votes, *id));
        rows
    };
    let page = |page, per_page| Page::parse(Some(page), Some(per_page)).unwrap();
    let got = |rows: Vec<target_stack::db::RankingRow>| {
        rows.iter()
            .map(|r| (r.user_id, r.votes))
            .collect::<Vec<_>>()
    };
    let all = ranked(None);
    assert_eq!(all.len(), owners.len(), "every owner got votes");
    assert_eq!(got(db.rankings(None, page(1, 100)).await.unwrap()), all);
    assert_eq!(
        got(db.rankings(None, page(2, 2)).await.unwrap()),
        all[2..4].to_vec()
    );
    let bogota = label(LabelKind::City, "BOGOTÁ");
    assert_eq!(
        got(db.rankings(Some(&bogota), page(1, 100)).await.unwrap()),
        ranked(Some("Bogotá"))
    );
}

/// Migration 0003 counts the votes already in a database that predates it.
#[tokio::test]
async fn migration_counts_the_votes_cast_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anb.sqlite3");
    let before = dir.path().join("migrations");
    std::fs::create_dir(&before).unwrap();
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for name in ["0001_init.sql", "0002_task_runs.sql"] {
        std::fs::copy(ours.join(name), before.join(name)).unwrap();
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO users (email, password_hash, first_name, last_name, city, city_key,
                            country, created_at)
         VALUES ('a@x.co', 'h', 'A', 'A', 'Cali', 'cali', 'CO', 0),
                ('b@x.co', 'h', 'B', 'B', 'Cali', 'cali', 'CO', 0),
                ('c@x.co', 'h', 'C', 'C', 'Cali', 'cali', 'CO', 0);
         INSERT INTO videos (owner_id, title, status, task_id, original_key, uploaded_at)
         VALUES (1, 't', 'processed', 't1', 'k1', 0), (1, 't', 'processed', 't2', 'k2', 0),
                (2, 't', 'processed', 't3', 'k3', 0);
         INSERT INTO votes (video_id, user_id, created_at)
         VALUES (1, 2, 0), (2, 2, 0), (2, 3, 0), (3, 1, 0);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let db = Database::connect(&DatabaseUrl::Sqlite(file)).await.unwrap();
    db.migrate().await.unwrap();
    let ranking = db.rankings(None, Page::default()).await.unwrap();
    assert_eq!(
        ranking
            .iter()
            .map(|r| (r.user_id, r.votes))
            .collect::<Vec<_>>(),
        vec![(1, 3), (2, 1)]
    );
    db.close().await;
}

async fn repository_records_only_the_first_completion(env: TestEnv) {
    let db = &env.backends.db;
    let owner = user(&env, "ana@example.com", "Cali").await;
    let id = video(&env, owner, "clip").await;
    let started = db.start_processing(id).await.unwrap().unwrap();
    assert_eq!(
        (started.status, started.attempts),
        (VideoStatus::Processing, 1)
    );
    // A redelivery while the first attempt still runs starts a second attempt...
    assert_eq!(db.start_processing(id).await.unwrap().unwrap().attempts, 2);
    // ...but only one of them records the result.
    assert!(db.finish_processing(id, "processed/a.mp4").await.unwrap());
    assert!(!db.finish_processing(id, "processed/b.mp4").await.unwrap());
    let done = db.video(id).await.unwrap().unwrap();
    assert_eq!(done.processed_key.as_deref(), Some("processed/a.mp4"));
    assert!(
        db.start_processing(id).await.unwrap().is_none(),
        "nothing left to do"
    );
    db.mark_failed(id).await.unwrap();
    assert_eq!(
        db.video(id).await.unwrap().unwrap().status,
        VideoStatus::Processed
    );
}

async fn queue_hides_received_tasks_and_redelivers_unacknowledged_ones(env: TestEnv) {
    let queue = &env.backends.queue;
    let wait = Duration::from_secs(1);
    // The local queue also counts what SQS leaves to CloudWatch (None there).
    let local = matches!(queue, target_stack::queue::TaskQueue::Local(_));
    let deleted_before = queue.depth().await.unwrap().deleted_total;
    queue.send("one").await.unwrap();
    queue.send("two").await.unwrap();
    let mut first = queue.receive(1, wait).await.unwrap();
    assert_eq!(first.len(), 1);
    let first = first.remove(0);
    assert_eq!(first.receive_count, 1);
    let second = queue.receive(10, wait).await.unwrap();
    assert_eq!(second.len(), 1, "the received one is hidden");
    assert_ne!(second[0].body, first.body);
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 2));
    // ApproximateAgeOfOldestMessage: the oldest message not deleted, in flight or not.
    assert_eq!(depth.oldest_age.is_some(), local, "{depth:?}");

    // Released without acknowledgement: delivered again, counted.
    queue.set_visibility(&first, Duration::ZERO).await.unwrap();
    let again = queue.receive(10, wait).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].body.as_str(), again[0].receive_count),
        (first.body.as_str(), 2)
    );
    // The old receipt no longer acknowledges anything on the local queue; on SQS a stale
    // receipt may still delete. Acknowledge with the fresh ones.
    queue.ack(&again[0]).await.unwrap();
    queue.ack(&second[0]).await.unwrap();
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    assert_eq!(depth.dead_letter, Some(0));
    assert_eq!(depth.oldest_age, None, "nothing left to age");
    // NumberOfMessagesDeleted: the two acknowledgements, a delivered-again one once.
    assert_eq!(
        depth.deleted_total,
        deleted_before.map(|before| before + 2),
        "{depth:?}"
    );
    assert_eq!(deleted_before.is_some(), local);
}

async fn queue_sends_batches_larger_than_sqs_allows_in_one_call(env: TestEnv) {
    let queue = &env.backends.queue;
    // 23: two full SendMessageBatch calls and a partial one.
    let bodies: Vec<String> = (0..23).map(|i| format!("task {i}")).collect();
    let ids = queue.send_batch(&bodies).await.unwrap();
    assert_eq!(ids.len(), 23);
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        23,
        "one id per message"
    );
    let mut received = Vec::new();
    while received.len() < 23 {
        let batch = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(!batch.is_empty(), "only {} of 23 arrived", received.len());
        for delivery in batch {
            queue.ack(&delivery).await.unwrap();
            received.push(delivery.body);
        }
    }
    received.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(received, expected);
}

async fn queue_moves_a_task_received_too_often_to_the_dead_letter_queue(env: TestEnv) {
    let env = TestEnv::with(env.flavor, &[("ANB_QUEUE_MAX_RECEIVES", "2")])
        .await
        .unwrap();
    let queue = &env.backends.queue;
    let wait = Duration::from_secs(1);
    queue.send("poison").await.unwrap();
    for expected in 1..=2 {
        let got = queue.receive(1, wait).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].receive_count, expected);
        queue.set_visibility(&got[0], Duration::ZERO).await.unwrap();
    }
    assert!(
        queue.receive(1, wait).await.unwrap().is_empty(),
        "moved out of the main queue"
    );
    assert_eq!(
        queue.dead_letters().await.unwrap(),
        vec!["poison".to_string()]
    );
    assert_eq!(queue.depth().await.unwrap().dead_letter, Some(1));
}

/// The worker's dead-letter sweep takes each dead letter under a lease (a sweeper that dies
/// gives it back), and a settled one stays in the queue without being handed out again.
async fn queue_hands_out_each_dead_letter_until_it_is_settled(env: TestEnv) {
    let env = TestEnv::with(env.flavor, &[("ANB_QUEUE_MAX_RECEIVES", "1")])
        .await
        .unwrap();
    let queue = &env.backends.queue;
    let wait = Duration::from_secs(1);
    let lease = Duration::from_secs(1);
    assert!(queue.knows_dead_letters());
    queue.send("poison").await.unwrap();
    let got = queue.receive(1, wait).await.unwrap();
    queue.set_visibility(&got[0], Duration::ZERO).await.unwrap();
    assert!(
        queue.receive(1, wait).await.unwrap().is_empty(),
        "dead-lettered"
    );

    let letters = queue.receive_dead_letters(10, lease).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].body, "poison");
    assert!(
        queue
            .receive_dead_letters(10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased to the first sweeper"
    );
    // The first sweeper died: after the lease, the letter is handed out again.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let again = queue.receive_dead_letters(10, lease).await.unwrap();
    assert_eq!(again.len(), 1);
    queue.settle_dead_letter(&again[0]).await.unwrap();
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert!(
        queue
            .receive_dead_letters(10, lease)
            .await
            .unwrap()
            .is_empty(),
        "settled: not handed out again"
    );
    // Still in the dead-letter queue, for the alarm, inspection and redrive.
    assert_eq!(queue.depth().await.unwrap().dead_letter, Some(1));
}

async fn storage_streams_uploads_and_an_aborted_upload_leaves_nothing(env: TestEnv) {
    let storage = &env.backends.storage;
    // 12 MiB in 1 MiB writes: more than two multipart parts.
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut upload = storage.begin_upload("originals/big.mp4").await.unwrap();
    for _ in 0..12 {
        upload.write(&chunk).await.unwrap();
    }
    assert!(
        !storage.exists("originals/big.mp4").await.unwrap(),
        "invisible until finished"
    );
    assert_eq!(upload.finish().await.unwrap(), 12 * 1024 * 1024);
    assert_eq!(
        storage.size("originals/big.mp4").await.unwrap(),
        12 * 1024 * 1024
    );

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.mp4");
    assert_eq!(
        storage
            .get_to_file("originals/big.mp4", &copy)
            .await
            .unwrap(),
        12 * 1024 * 1024
    );
    let bytes = std::fs::read(&copy).unwrap();
    assert_eq!(&bytes[..chunk.len()], &chunk[..]);
    assert_eq!(&bytes[11 * chunk.len()..], &chunk[..]);

    let mut aborted = storage.begin_upload("originals/aborted.mp4").await.unwrap();
    for _ in 0..6 {
        aborted.write(&chunk).await.unwrap();
    }
    aborted.abort().await;
    assert_eq!(
        env.stored_files().await,
        vec!["originals/big.mp4".to_string()]
    );

    assert_eq!(
        storage.put_file("processed/1.mp4", &copy).await.unwrap(),
        12 * 1024 * 1024
    );
    assert_eq!(
        storage.list("processed/").await.unwrap(),
        vec!["processed/1.mp4".to_string()]
    );
    storage.delete("processed/1.mp4").await.unwrap();
    storage.delete("processed/1.mp4").await.unwrap();
    assert!(!storage.exists("processed/1.mp4").await.unwrap());
    // A range of an object streams just those bytes (the API's file endpoints seek with it).
    let part = storage
        .read(
            "originals/big.mp4",
            Some(5 * 1024 * 1024 - 10..5 * 1024 * 1024 + 10),
        )
        .await
        .unwrap();
    assert_eq!(
        (part.size, part.range.clone()),
        (12 * 1024 * 1024, 5 * 1024 * 1024 - 10..5 * 1024 * 1024 + 10)
    );
    let got: Vec<u8> = part.stream.map(|c| c.unwrap().to_vec()).concat().await;
    assert_eq!(got, &bytes[5 * 1024 * 1024 - 10..5 * 1024 * 1024 + 10]);
    let missing = storage
        .read("originals/none.mp4", None)
        .await
        .err()
        .unwrap();
    assert!(missing.is_not_found(), "{missing}");
}

async fn health_is_503_when_a_dependency_is_down(env: TestEnv) {
    let app = TestApp::spawn(&env).await;
    assert_eq!(app.get("/health", None).await.status(), 200);
    env.backends.db.close().await;
    let health = app.get("/health", None).await;
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "unavailable");
    assert_eq!(body["queue"], "ok");
}

/// A database that cannot be reached is named in the error, without its password.
#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .arg("api")
        .env_clear()
        .env("ANB_DATA_DIR", dir.path())
        .env("DATABASE_URL", "postgres://u:secretpw@127.0.0.1:1/db")
        .env("ANB_JWT_SECRET", crate::helpers::JWT_SECRET)
        .env("ANB_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stderr.contains("secretpw") && !stdout.contains("secretpw"),
        "{stderr}{stdout}"
    );
    assert!(
        stderr.contains("cannot open the database postgres://u:***@127.0.0.1:1/db"),
        "{stderr}"
    );
}
