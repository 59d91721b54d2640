//! The target's API contract as escenario 1 sees it: paths, field names, the statuses that
//! count as success, and where to find tokens, ids and statuses in answers.
//!
//! The defaults are the ANB contract of `target-stack`. Teams point aforo at their own
//! implementation, which differs in details (422 vs 400, 202 vs 201, `done` vs
//! `processed`, `{"items": [...]}` listings, no `video_id` in the upload answer); a TOML file
//! (`--contract FILE`) overrides any of these. Only the keys given change. Extraction uses
//! JSON pointers (RFC 6901), e.g. `/access_token`, `/data/id`; an empty pointer means
//! "not available", and the scenario then finds the value another way or skips the step.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("cannot read the contract file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the contract file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Contract {
    pub paths: Paths,
    pub fields: Fields,
    pub extract: Extract,
    pub statuses: Statuses,
}

/// Paths relative to the host; `{video_id}` is replaced by the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paths {
    pub signup: String,
    pub login: String,
    pub upload: String,
    pub my_videos: String,
    pub video: String,
    pub public_videos: String,
    pub vote: String,
    pub rankings: String,
    pub health: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fields {
    /// Our signup field name → theirs, for the fields that differ (e.g. `password2 =
    /// "password_confirmation"`). A field mapped to "" is not sent.
    pub signup: BTreeMap<String, String>,
    pub login_email: String,
    pub login_password: String,
    pub upload_file: String,
    pub upload_title: String,
    /// Send the login as a form (`application/x-www-form-urlencoded`, OAuth2 password flow
    /// style) instead of JSON.
    pub login_as_form: bool,
}

/// JSON pointers into answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Extract {
    pub token: String,
    /// The new video's id in the upload answer ("" when the target does not return it).
    pub upload_video_id: String,
    /// The array of videos inside a listing answer ("" when the answer is the array).
    pub list_items: String,
    /// A video's id inside one listing item.
    pub item_video_id: String,
    /// A video's status inside one listing item.
    pub item_status: String,
    /// Statuses that mean "processed" (public, can be voted for).
    pub processed_statuses: Vec<String>,
}

/// Statuses that count as success, per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Statuses {
    pub signup: Vec<u16>,
    pub login: Vec<u16>,
    pub upload: Vec<u16>,
    pub my_videos: Vec<u16>,
    pub video: Vec<u16>,
    pub public_videos: Vec<u16>,
    pub vote: Vec<u16>,
    pub rankings: Vec<u16>,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            signup: "/api/auth/signup".into(),
            login: "/api/auth/login".into(),
            upload: "/api/videos/upload".into(),
            my_videos: "/api/videos".into(),
            video: "/api/videos/{video_id}".into(),
            public_videos: "/api/public/videos".into(),
            vote: "/api/public/videos/{video_id}/vote".into(),
            rankings: "/api/public/rankings".into(),
            health: "/health".into(),
        }
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            signup: BTreeMap::new(),
            login_email: "email".into(),
            login_password: "password".into(),
            upload_file: "video_file".into(),
            upload_title: "title".into(),
            login_as_form: false,
        }
    }
}

impl Default for Extract {
    fn default() -> Self {
        Self {
            token: "/access_token".into(),
            upload_video_id: "/video_id".into(),
            list_items: String::new(),
            item_video_id: "/video_id".into(),
            item_status: "/status".into(),
            processed_statuses: vec!["processed".into()],
        }
    }
}

impl Default for Statuses {
    fn default() -> Self {
        Self {
            signup: vec![201],
            login: vec![200],
            upload: vec![201],
            my_videos: vec![200],
            video: vec![200],
            public_videos: vec![200],
            vote: vec![200],
            rankings: vec![200],
        }
    }
}

impl Contract {
    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ContractError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let contract: Contract = toml::from_str(text).map_err(|e| e.to_string())?;
        contract.check()?;
        Ok(contract)
    }

    fn check(&self) -> Result<(), String> {
        let p = &self.paths;
        for (name, path) in [
            ("signup", &p.signup),
            ("login", &p.login),
            ("upload", &p.upload),
            ("my_videos", &p.my_videos),
            ("video", &p.video),
            ("public_videos", &p.public_videos),
            ("vote", &p.vote),
            ("rankings", &p.rankings),
            ("health", &p.health),
        ] {
            if !path.starts_with('/') {
                return Err(format!("paths.{name} = {path:?} must start with /"));
            }
        }
        for (name, path) in [("video", &p.video), ("vote", &p.vote)] {
            if !path.contains("{video_id}") {
                return Err(format!("paths.{name} = {path:?} must contain {{video_id}}"));
            }
        }
        let e = &self.extract;
        for (name, pointer) in [
            ("token", &e.token),
            ("upload_video_id", &e.upload_video_id),
            ("list_items", &e.list_items),
            ("item_video_id", &e.item_video_id),
            ("item_status", &e.item_status),
        ] {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(format!(
                    "extract.{name} = {pointer:?} is not a JSON pointer: write it like \"/data/id\""
                ));
            }
        }
        if e.token.is_empty() {
            return Err("extract.token must say where the access token is".into());
        }
        Ok(())
    }

    /// The signup body with the contract's field names.
    pub fn signup_body(&self, fields: &[(&str, String)]) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        for (ours, value) in fields {
            let theirs = self.fields.signup.get(*ours).map_or(*ours, String::as_str);
            if !theirs.is_empty() {
                body.insert(theirs.to_string(), serde_json::Value::String(value.clone()));
            }
        }
        serde_json::Value::Object(body)
    }

    pub fn video_path(&self, template: &str, video_id: &str) -> String {
        template.replace("{video_id}", video_id)
    }
}

/// A value at a JSON pointer, as text: strings as they are, numbers printed. Ids may be
/// integers or UUIDs depending on the target.
pub fn text_at(value: &serde_json::Value, pointer: &str) -> Option<String> {
    if pointer.is_empty() {
        return None;
    }
    match value.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The items of a listing answer.
pub fn items<'a>(value: &'a serde_json::Value, pointer: &str) -> &'a [serde_json::Value] {
    let list = if pointer.is_empty() {
        Some(value)
    } else {
        value.pointer(pointer)
    };
    list.and_then(|v| v.as_array()).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_target_stacks_contract() {
        let c = Contract::parse("").unwrap();
        assert_eq!(c, Contract::default());
        assert_eq!(c.paths.vote, "/api/public/videos/{video_id}/vote");
        assert_eq!(c.statuses.upload, vec![201]);
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let c = Contract::parse(
            r#"
            [paths]
            health = "/api/health"
            [fields]
            signup = { password2 = "password_confirmation", country = "" }
            [extract]
            upload_video_id = ""
            list_items = "/items"
            item_video_id = "/id"
            processed_statuses = ["done"]
            [statuses]
            upload = [201, 202]
            signup = [200, 201]
            "#,
        )
        .unwrap();
        assert_eq!(c.paths.health, "/api/health");
        assert_eq!(c.paths.login, "/api/auth/login");
        assert_eq!(c.statuses.upload, vec![201, 202]);
        let body = c.signup_body(&[
            ("password2", "x".into()),
            ("country", "CO".into()),
            ("city", "Cali".into()),
        ]);
        assert_eq!(body, json!({"password_confirmation": "x", "city": "Cali"}));
        let listing = json!({"items": [{"id": 7, "status": "done"}, {"id": "a-uuid"}]});
        let found = items(&listing, &c.extract.list_items);
        assert_eq!(found.len(), 2);
        assert_eq!(
            text_at(&found[0], &c.extract.item_video_id).as_deref(),
            Some("7")
        );
        assert_eq!(
            text_at(&found[1], &c.extract.item_video_id).as_deref(),
            Some("a-uuid")
        );
        assert_eq!(text_at(&found[1], &c.extract.upload_video_id), None);
    }

    #[test]
    fn mistakes_are_named() {
        let err = Contract::parse("[paths]\nvote = \"/vote\"").unwrap_err();
        assert!(
            err.contains("paths.vote") && err.contains("{video_id}"),
            "{err}"
        );
        let err = Contract::parse("[extract]\ntoken = \"access_token\"").unwrap_err();
        assert!(err.contains("JSON pointer"), "{err}");
        let err = Contract::parse("[pathz]\nx = 1").unwrap_err();
        assert!(err.contains("pathz"), "{err}");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    #[test]
    fn the_documented_example_contract_parses_to_what_it_says() {
        let c = Contract::parse(include_str!("../contracts/example.toml")).unwrap();
        assert_eq!(c.paths.health, "/api/health");
        assert!(c.fields.login_as_form);
        assert_eq!(c.extract.list_items, "/items");
        assert_eq!(c.statuses.upload, vec![201, 202]);
    }
}
