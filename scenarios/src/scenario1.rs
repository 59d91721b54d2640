//! Escenario 1, the web layer: each user signs up and logs in once, then loops over
//! weighted steps — upload, list my videos, get one, public videos, vote, rankings.
//!
//! The scenario degrades gracefully on targets that cannot do a step right now: with no
//! video of its own yet it skips "get one", with no public video (nothing processed, or a
//! target without publishing) it skips "vote", and it never votes twice for one video.
//! Skips are reported, not counted as errors.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::contract::{Contract, items, text_at};
use crate::http::{Multipart, Request};
use crate::record::Exchange;

const JSON: &str = "application/json";

/// The relative weights of the steps (any non-negative integers; 0 disables a step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub upload: u32,
    pub list_videos: u32,
    pub get_video: u32,
    pub public_videos: u32,
    pub vote: u32,
    pub rankings: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            upload: 10,
            list_videos: 25,
            get_video: 20,
            public_videos: 20,
            vote: 15,
            rankings: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Upload,
    ListVideos,
    GetVideo,
    PublicVideos,
    Vote,
    Rankings,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Upload,
        Step::ListVideos,
        Step::GetVideo,
        Step::PublicVideos,
        Step::Vote,
        Step::Rankings,
    ];

    /// The step's name: its endpoint tag in the latency log and its key in `weights=`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Upload => "upload",
            Step::ListVideos => "list_videos",
            Step::GetVideo => "get_video",
            Step::PublicVideos => "public_videos",
            Step::Vote => "vote",
            Step::Rankings => "rankings",
        }
    }
}

impl Weights {
    fn of(&self, step: Step) -> u32 {
        match step {
            Step::Upload => self.upload,
            Step::ListVideos => self.list_videos,
            Step::GetVideo => self.get_video,
            Step::PublicVideos => self.public_videos,
            Step::Vote => self.vote,
            Step::Rankings => self.rankings,
        }
    }

    /// Parses `upload:10,list_videos:25,...`; steps not named keep their default.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut weights = Self::default();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, value) = pair
                .split_once(':')
                .ok_or_else(|| format!("weight {pair:?} must look like step:number"))?;
            let step = Step::ALL
                .into_iter()
                .find(|s| s.name() == name.trim())
                .ok_or_else(|| {
                    let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown step {name:?}; steps are {}", names.join(", "))
                })?;
            let value: u32 = value
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name} must be a whole number, got {value:?}"))?;
            match step {
                Step::Upload => weights.upload = value,
                Step::ListVideos => weights.list_videos = value,
                Step::GetVideo => weights.get_video = value,
                Step::PublicVideos => weights.public_videos = value,
                Step::Vote => weights.vote = value,
                Step::Rankings => weights.rankings = value,
            }
        }
        if Step::ALL.iter().all(|s| weights.of(*s) == 0) {
            return Err("at least one step needs a weight above 0".into());
        }
        Ok(weights)
    }

    /// The step for a uniform draw in `0..total()`.
    pub fn pick(&self, draw: u32) -> Step {
        let mut left = draw;
        for step in Step::ALL {
            let w = self.of(step);
            if left < w {
                return step;
            }
            left -= w;
        }
        Step::ALL
            .into_iter()
            .rfind(|s| self.of(*s) > 0)
            .expect("a valid weight set has a positive weight")
    }

    pub fn total(&self) -> u32 {
        Step::ALL.iter().map(|s| self.of(*s)).sum()
    }
}

/// A refusal because the account exists (409, or a 400 that says so).
fn already_exists(status: u16, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    status == 409
        || (status == 400
            && ["already", "exists", "taken", "registered"]
                .iter()
                .any(|w| text.contains(w)))
}

const CITIES: [&str; 5] = ["Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena"];
const PASSWORD: &str = "Aforo-load-test-1";
/// Ids kept per user; enough variety without growing with the run.
const REMEMBERED: usize = 50;

/// The scenario, shared by all users.
#[derive(Debug, Clone)]
pub struct Scenario1 {
    pub contract: Contract,
    pub weights: Weights,
    /// The upload payload, generated once and shared (cheap clones).
    pub payload: Bytes,
    /// Distinguishes this run's users from earlier runs' on the same target.
    pub run_tag: String,
}

/// One user's state.
#[derive(Debug, Clone)]
pub struct User {
    index: u64,
    city: &'static str,
    token: Option<String>,
    own_videos: Vec<String>,
    public_videos: Vec<String>,
    voted: HashSet<String>,
    rng: SmallRng,
    next_login_attempt: Instant,
    /// Signups sent so far: a retry may find the account an earlier attempt created.
    signup_attempts: u32,
}

impl User {
    pub fn new(index: u64) -> Self {
        Self {
            index,
            city: CITIES[index as usize % CITIES.len()],
            token: None,
            own_videos: Vec::new(),
            public_videos: Vec::new(),
            voted: HashSet::new(),
            rng: SmallRng::seed_from_u64(index.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            next_login_attempt: Instant::now(),
            signup_attempts: 0,
        }
    }

    pub fn is_logged_in(&self) -> bool {
        self.token.is_some()
    }
}

impl Scenario1 {
    pub fn new(contract: Contract, weights: Weights, payload: Bytes, run_tag: &str) -> Arc<Self> {
        Arc::new(Self {
            contract,
            weights,
            payload,
            run_tag: run_tag.to_string(),
        })
    }

    fn email(&self, user: &User) -> String {
        format!("aforo.{}.{}@example.com", self.run_tag, user.index)
    }

    /// Signs the user up and logs in. Failures are recorded; the user retries at most once
    /// a second from [`Scenario1::iterate`].
    pub async fn setup(&self, ex: &mut Exchange<'_>, user: &mut User) {
        user.next_login_attempt = Instant::now() + Duration::from_secs(1);
        let c = &self.contract;
        let email = self.email(user);
        let body = c.signup_body(&[
            ("first_name", "Aforo".into()),
            ("last_name", format!("User{}", user.index)),
            ("email", email.clone()),
            ("password1", PASSWORD.into()),
            ("password2", PASSWORD.into()),
            ("city", user.city.into()),
            ("country", "Colombia".into()),
        ]);
        let signup = serde_json::to_vec(&body).unwrap_or_default();
        let request = Request::post(c.paths.signup.as_str()).body(JSON, signup);
        // A retry may find the account its earlier attempt created although that attempt
        // failed (a 500 after the insert, a timeout): "already exists" is then no failure of
        // the target. Logging in decides.
        let retry = user.signup_attempts > 0;
        user.signup_attempts += 1;
        ex.send_judged("signup", request, |status, body| {
            c.statuses.signup.contains(&status) || (retry && already_exists(status, body))
        })
        .await;

        let f = &c.fields;
        let request = Request::post(c.paths.login.as_str());
        let request = if f.login_as_form {
            let form = format!(
                "{}={}&{}={}",
                f.login_email,
                email.replace('@', "%40").replace('+', "%2B"),
                f.login_password,
                PASSWORD
            );
            request.body("application/x-www-form-urlencoded", form)
        } else {
            let mut login = serde_json::Map::new();
            login.insert(f.login_email.clone(), email.into());
            login.insert(f.login_password.clone(), PASSWORD.into());
            request.body(JSON, serde_json::to_vec(&login).unwrap_or_default())
        };
        let answer = ex.send("login", request, &c.statuses.login).await;
        if answer.success {
            user.token = answer.json().and_then(|v| text_at(&v, &c.extract.token));
        }
    }

    /// One weighted step. `ex` carries the due time in the open model.
    pub async fn iterate(&self, ex: &mut Exchange<'_>, user: &mut User) {
        if user.token.is_none() {
            if Instant::now() < user.next_login_attempt {
                ex.skip("login", "not logged in yet (signup or login failed)");
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
            self.setup(ex, user).await;
            return;
        }
        let step = self
            .weights
            .pick(user.rng.random_range(0..self.weights.total()));
        match step {
            Step::Upload => self.upload(ex, user).await,
            Step::ListVideos => self.list_videos(ex, user).await,
            Step::GetVideo => self.get_video(ex, user).await,
            Step::PublicVideos => self.public_videos(ex, user).await,
            Step::Vote => self.vote(ex, user).await,
            Step::Rankings => self.rankings(ex, user).await,
        }
    }

    fn authorized(&self, request: Request, user: &User) -> Request {
        match &user.token {
            Some(token) => request.bearer(token),
            None => request,
        }
    }

    async fn upload(&self, ex: &mut Exchange<'_>, user: &mut User) {
        let c = &self.contract;
        let title = format!("aforo {} #{}", self.run_tag, user.rng.random::<u32>());
        let form = Multipart::new(user.rng.random())
            .text(&c.fields.upload_title, &title)
            .file(
                &c.fields.upload_file,
                "aforo.mp4",
                "video/mp4",
                self.payload.clone(),
            );
        let request = self
            .authorized(Request::post(c.paths.upload.as_str()), user)
            .multipart(form);
        let answer = ex.send("upload", request, &c.statuses.upload).await;
        if let Some(id) = answer
            .success
            .then(|| answer.json())
            .flatten()
            .and_then(|v| text_at(&v, &c.extract.upload_video_id))
        {
            remember(&mut user.own_videos, id);
        }
    }

    async fn list_videos(&self, ex: &mut Exchange<'_>, user: &mut User) {
        let c = &self.contract;
        let request = self.authorized(Request::get(c.paths.my_videos.as_str()), user);
        let answer = ex.send("list_videos", request, &c.statuses.my_videos).await;
        if let Some(listing) = answer.success.then(|| answer.json()).flatten() {
            let ids: Vec<String> = items(&listing, &c.extract.list_items)
                .iter()
                .filter_map(|item| text_at(item, &c.extract.item_video_id))
                .take(REMEMBERED)
                .collect();
            if !ids.is_empty() {
                user.own_videos = ids;
            }
        }
    }

    async fn get_video(&self, ex: &mut Exchange<'_>, user: &mut User) {
        let c = &self.contract;
        if user.own_videos.is_empty() {
            ex.skip("get_video", "no video of this user is known yet");
            return;
        }
        let id = user.own_videos[user.rng.random_range(0..user.own_videos.len())].clone();
        let path = c.video_path(&c.paths.video, &id);
        let request = self.authorized(Request::get(path), user);
        ex.send("get_video", request, &c.statuses.video).await;
    }

    async fn public_videos(&self, ex: &mut Exchange<'_>, user: &mut User) {
        let c = &self.contract;
        let request = Request::get(c.paths.public_videos.as_str());
        let answer = ex
            .send("public_videos", request, &c.statuses.public_videos)
            .await;
        if let Some(listing) = answer.success.then(|| answer.json()).flatten() {
            user.public_videos = items(&listing, &c.extract.list_items)
                .iter()
                .filter(|item| {
                    // Listings without a status field list public videos only.
                    text_at(item, &c.extract.item_status)
                        .is_none_or(|s| c.extract.processed_statuses.contains(&s))
                })
                .filter_map(|item| text_at(item, &c.extract.item_video_id))
                .take(REMEMBERED)
                .collect();
        }
    }

    async fn vote(&self, ex: &mut Exchange<'_>, user: &mut User) {
        let c = &self.contract;
        let candidates: Vec<&String> = user
            .public_videos
            .iter()
            .filter(|id| !user.voted.contains(*id))
            .collect();
        if candidates.is_empty() {
            ex.skip("vote", "no public video this user has not voted for yet");
            return;
        }
        let id = candidates[user.rng.random_range(0..candidates.len())].clone();
        let path = c.video_path(&c.paths.vote, &id);
        let request = self.authorized(Request::post(path), user);
        // Whatever the answer, do not vote for it again: a retry would be a duplicate.
        user.voted.insert(id);
        ex.send("vote", request, &c.statuses.vote).await;
    }

    async fn rankings(&self, ex: &mut Exchange<'_>, user: &mut User) {
        let c = &self.contract;
        let mut path = c.paths.rankings.clone();
        if user.rng.random_bool(0.5) {
            path = format!("{path}?city={}", percent_encode(user.city));
        }
        ex.send("rankings", Request::get(path), &c.statuses.rankings)
            .await;
    }
}

fn remember(ids: &mut Vec<String>, id: String) {
    if ids.len() >= REMEMBERED {
        ids.remove(0);
    }
    ids.push(id);
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weights_parse_partially_and_name_mistakes() {
        let w = Weights::parse("upload:0, vote:50").unwrap();
        assert_eq!((w.upload, w.vote, w.rankings), (0, 50, 10));
        assert!(
            Weights::parse("uplod:3")
                .unwrap_err()
                .contains("list_videos")
        );
        assert!(Weights::parse("upload:x").is_err());
        let none = "upload:0,list_videos:0,get_video:0,public_videos:0,vote:0,rankings:0";
        assert!(Weights::parse(none).is_err());
    }

    #[test]
    fn cities_are_percent_encoded() {
        assert_eq!(percent_encode("Bogotá"), "Bogot%C3%A1");
    }

    proptest! {
        #[test]
        fn every_draw_picks_a_step_with_weight(
            weights in proptest::collection::vec(0u32..20, 6),
            draw_fraction in 0.0f64..1.0,
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let w = Weights {
                upload: weights[0], list_videos: weights[1], get_video: weights[2],
                public_videos: weights[3], vote: weights[4], rankings: weights[5],
            };
            let draw = ((w.total() as f64) * draw_fraction) as u32;
            prop_assert!(w.of(w.pick(draw.min(w.total() - 1))) > 0);
        }

        #[test]
        fn draws_follow_the_weights_exactly(weights in proptest::collection::vec(0u32..10, 6)) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let w = Weights {
                upload: weights[0], list_videos: weights[1], get_video: weights[2],
                public_videos: weights[3], vote: weights[4], rankings: weights[5],
            };
            for step in Step::ALL {
                let hits = (0..w.total()).filter(|d| w.pick(*d) == step).count() as u32;
                prop_assert_eq!(hits, w.of(step));
            }
        }
    }
}
