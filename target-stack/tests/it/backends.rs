//! The repository, queue and storage contracts, one suite run on SQLite + a directory + the
//! local queue and on PostgreSQL + S3 + SQS (moto).

use std::time::Duration;

use target_stack::db::{DbError, NewUser, NewVideo};
use target_stack::domain::{Email, Label, LabelKind, Page, VideoStatus};

use crate::helpers::{TestApp, TestEnv, on_both_backends};

on_both_backends!(
    repository_keeps_users_videos_votes_and_rankings,
    repository_records_only_the_first_completion,
    queue_hides_received_tasks_and_redelivers_unacknowledged_ones,
    queue_moves_a_task_received_too_often_to_the_dead_letter_queue,
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
    assert!(
        storage
            .url("originals/big.mp4")
            .ends_with("/originals/big.mp4")
    );
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
