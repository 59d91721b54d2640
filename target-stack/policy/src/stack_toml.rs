//! `stack.toml`, the local stack's configuration file, as far as scaling goes: its defaults
//! and how a user's file overrides them. The local stack reads the whole file from the
//! merged table; `analyze simulate` reads only the groups, so that a policy replayed by the
//! analyzer is the policy the stack would run from the same file.

use serde::Deserialize;

use crate::GroupSpec;

/// The defaults, documenting every key.
pub const DEFAULT: &str = include_str!("default-stack.toml");

/// Sections a file overrides key by key, keeping the defaults' other keys: ALB's attributes
/// are set one by one, whereas a group is replaced whole.
const MERGED_KEY_BY_KEY: &[&str] = &["balancer"];

/// The defaults with `text`'s top-level keys and sections in place of theirs, each whole (a
/// `[web]` without policies has none) except those of [`MERGED_KEY_BY_KEY`], whose keys
/// replace the defaults' one by one; the sections `text` leaves out keep their defaults.
pub fn merged(text: &str) -> Result<toml::Table, toml::de::Error> {
    let mut merged: toml::Table =
        toml::from_str(DEFAULT).expect("the default configuration is valid TOML");
    let overrides: toml::Table = toml::from_str(text)?;
    for (key, value) in overrides {
        match (merged.get_mut(&key), value) {
            (Some(toml::Value::Table(defaults)), toml::Value::Table(named))
                if MERGED_KEY_BY_KEY.contains(&key.as_str()) =>
            {
                defaults.extend(named)
            }
            (_, value) => {
                merged.insert(key, value);
            }
        }
    }
    Ok(merged)
}

/// The scaling part of a `stack.toml`: the two groups and the app (which says whether the
/// worker group runs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StackGroups {
    pub app: String,
    pub web: GroupSpec,
    pub worker: GroupSpec,
}

impl StackGroups {
    /// Reads the groups of a `stack.toml` (merged with the defaults); other sections are not
    /// checked here.
    pub fn parse(text: &str) -> Result<Self, String> {
        let merged = merged(text).map_err(|e| e.to_string())?;
        let groups = toml::Table::from_iter(
            ["app", "web", "worker"]
                .into_iter()
                .filter_map(|key| Some((key.to_string(), merged.get(key)?.clone()))),
        );
        let groups: StackGroups = groups
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        for spec in [&groups.web, &groups.worker] {
            crate::Group::new(spec.clone()).map_err(|e| e.to_string())?;
        }
        Ok(groups)
    }

    /// Whether the app has a worker group (ANB does, the inference service does not).
    pub fn has_workers(&self) -> bool {
        self.app == "anb"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaces_the_sections_it_names_and_keeps_the_others() {
        let defaults = StackGroups::parse("").unwrap();
        assert_eq!(defaults.web.name, "web");
        assert!(!defaults.web.policies.is_empty());
        let file = "[web]\nname = \"front\"\nmin = 2\nmax = 3\nwarmup_secs = 5\n";
        let groups = StackGroups::parse(file).unwrap();
        assert_eq!(
            (groups.web.name.as_str(), groups.web.min, groups.web.max),
            ("front", 2, 3)
        );
        // The [web] it names has no policies: none are kept from the default's.
        assert!(groups.web.policies.is_empty());
        assert_eq!(groups.worker, defaults.worker);
        assert!(groups.has_workers());
    }

    #[test]
    fn a_bad_group_is_refused_with_its_reason() {
        let e = StackGroups::parse("[web]\nname = \"web\"\nmin = 3\nmax = 2\nwarmup_secs = 5\n")
            .unwrap_err();
        assert!(e.contains("min"), "{e}");
        let e = StackGroups::parse("[web\n").unwrap_err();
        assert!(!e.is_empty());
    }

    #[test]
    fn a_balancer_section_replaces_only_the_keys_it_names() {
        let defaults = merged("").unwrap();
        let file = merged("[balancer]\ninterval_secs = 0.5\n").unwrap();
        assert_eq!(file["balancer"]["interval_secs"].as_float(), Some(0.5));
        let mut expected = defaults["balancer"].as_table().unwrap().clone();
        expected.insert("interval_secs".into(), toml::Value::Float(0.5));
        assert_eq!(file["balancer"].as_table(), Some(&expected));
        // A group is still replaced whole.
        let groups = merged("[web]\nname = \"front\"\n").unwrap();
        assert_eq!(groups["web"].as_table().unwrap().len(), 1);
    }
}
