//! Secrets from the environment that are still the deploy examples' placeholders are refused at
//! start: a known example HMAC key would make every caller hash brute-forceable, a known token
//! or password would open kpi-query to anyone who read `deploy/`.
//!
//! The example values have one source, the deploy files themselves (`deploy/.env.example` and
//! `deploy/k8s/secret.yaml`, compiled in); besides those exact values any value marked like a
//! placeholder (`EXAMPLE`, `CHANGE-ME`, `CHANGEME`, `REPLACE-ME`, any case) is refused, which is
//! also what `tests/python/check_deploy.py` requires every placeholder to carry.

const ENV_EXAMPLE: &str = include_str!("../../../deploy/.env.example");
const K8S_SECRET: &str = include_str!("../../../deploy/k8s/secret.yaml");

/// Marks of a placeholder, compared case-insensitively with `-` and `_` ignored.
const PLACEHOLDER_MARKS: [&str; 3] = ["example", "changeme", "replaceme"];

/// A secret that must not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is a placeholder of the deploy examples (the value itself is not repeated).
    #[error(
        "{var} holds an example placeholder (from deploy/.env.example or deploy/k8s/secret.yaml): set a secret of your own, e.g. `openssl rand -hex 32`"
    )]
    ExampleValue {
        /// The environment variable.
        var: String,
    },
}

/// Whether `value` is a placeholder: one of the deploy files' example values, or marked as one.
pub fn is_example(value: &str) -> bool {
    let folded: String = value
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    PLACEHOLDER_MARKS.iter().any(|m| folded.contains(m))
        || example_values().any(|(_, example)| example == value.trim())
}

/// Refuses `value` of variable `var` if it is a placeholder.
pub fn check(var: &str, value: &str) -> Result<(), SecretError> {
    if is_example(value) {
        Err(SecretError::ExampleValue {
            var: var.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// Whether environment variable `name` holds a secret: a `CIVICPULSE_…` name saying so
/// (`…PASSWORD`, `…TOKEN`, `…SECRET…`, `…KEY`, `…KEY_ID`): the hash key, kpi-query's token and
/// password, the SMTP password, object-store keys such as
/// `CIVICPULSE_LAKE__STORAGE_OPTIONS__AWS_SECRET_ACCESS_KEY`, Kafka SASL passwords.
pub fn is_secret_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("CIVICPULSE_")
        && (upper.contains("PASSWORD")
            || upper.contains("TOKEN")
            || upper.contains("SECRET")
            || upper.ends_with("KEY")
            || upper.ends_with("KEY_ID"))
}

/// Checks every secret variable of `vars` (name, value pairs, e.g. [`std::env::vars_os`]).
pub fn check_vars<N, V>(vars: impl IntoIterator<Item = (N, V)>) -> Result<(), SecretError>
where
    N: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    for (name, value) in vars {
        let (Some(name), Some(value)) = (name.as_ref().to_str(), value.as_ref().to_str()) else {
            continue;
        };
        if is_secret_var(name) {
            check(name, value)?;
        }
    }
    Ok(())
}

/// What every service calls first: exits with a message naming the variable (never its value)
/// if a secret of the process environment is a deploy example.
pub fn refuse_example_secrets(service: &str) {
    if let Err(e) = check_vars(std::env::vars_os()) {
        eprintln!("{service}: {e}");
        std::process::exit(2);
    }
}

/// `(variable, example value)` of the deploy files: `NAME=value` lines of `.env.example`
/// (commented-out ones too) and `  NAME: value` lines of the Secret's `stringData`.
fn example_values() -> impl Iterator<Item = (&'static str, &'static str)> {
    let env = ENV_EXAMPLE.lines().filter_map(|line| {
        let line = line.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        let (name, value) = line.split_once('=')?;
        is_env_name(name).then_some((name, value.trim()))
    });
    let secret = K8S_SECRET
        .lines()
        .skip_while(|line| !line.starts_with("stringData:"))
        .skip(1)
        .take_while(|line| line.starts_with(' ') || line.trim().is_empty())
        .filter_map(|line| {
            let (name, value) = line.trim().split_once(": ")?;
            is_env_name(name).then_some((name, value.trim().trim_matches('"')))
        });
    env.chain(secret).filter(|(_, value)| !value.is_empty())
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deploy_example_is_refused() {
        let examples: Vec<_> = example_values().collect();
        for var in [
            "CIVICPULSE_HASH_KEY",
            "CIVICPULSE_QUERY_TOKEN",
            "CIVICPULSE_QUERY_PASSWORD",
            "CIVICPULSE_REPORT__SMTP__PASSWORD",
        ] {
            assert!(
                examples.iter().filter(|(v, _)| *v == var).count() >= 2,
                "{var}: in both deploy files? {examples:?}"
            );
        }
        // Every value of the example Secret, and of .env.example's secrets, is a secret's and
        // refused, by a message naming the variable but not the value.
        let secret_yaml = examples.iter().filter(|(var, _)| {
            K8S_SECRET.contains(&format!("  {var}: "))
                || ["TOKEN", "PASSWORD", "KEY"].iter().any(|w| var.contains(w))
        });
        let mut checked = 0;
        for (var, value) in secret_yaml {
            assert!(is_secret_var(var), "{var} is not taken for a secret");
            let e = check(var, value).unwrap_err().to_string();
            assert!(e.starts_with(var), "{e}");
            assert!(!e.contains(value), "the message echoes the value: {e}");
            checked += 1;
        }
        assert!(checked >= 8, "{checked} examples");
    }

    #[test]
    fn placeholders_are_refused_and_real_secrets_pass() {
        for value in [
            "EXAMPLE-ONLY-replace-with-openssl-rand-hex-32",
            "change-me",
            "CHANGE_ME_please",
            "ChangeMe123456789",
            "replace-me-0123456789abcdef",
            // AWS's documentation keys.
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ] {
            assert!(is_example(value), "{value}");
        }
        for value in [
            "3f9c1e0b7a2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
            "civicpulse-test-hash-key-0123456789",
            "test-token-4f1c",
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==",
        ] {
            assert!(!is_example(value), "{value}");
        }
    }

    #[test]
    fn only_secret_variables_are_checked() {
        assert!(is_secret_var("CIVICPULSE_HASH_KEY"));
        assert!(is_secret_var(
            "CIVICPULSE_LAKE__STORAGE_OPTIONS__AWS_SECRET_ACCESS_KEY"
        ));
        assert!(is_secret_var(
            "CIVICPULSE_LAKE__STORAGE_OPTIONS__AWS_ACCESS_KEY_ID"
        ));
        assert!(is_secret_var("CIVICPULSE_KAFKA__PROPERTIES__SASL_PASSWORD"));
        assert!(!is_secret_var("CIVICPULSE_REPORT__SMTP__FROM"));
        assert!(!is_secret_var(
            "CIVICPULSE_LAKE__STORAGE_OPTIONS__AWS_ENDPOINT"
        ));
        assert!(!is_secret_var("HOME"));
        // Example addresses are no secrets.
        let vars = [
            (
                "CIVICPULSE_REPORT__SMTP__FROM",
                "civicpulse <reports@example.invalid>",
            ),
            ("CIVICPULSE_HASH_KEY", "3f9c1e0b7a2d4c6e8f0a1b2c3d4e5f60"),
        ];
        assert_eq!(check_vars(vars), Ok(()));
        let vars = [
            ("CIVICPULSE_LAKE__ROOT", "./lake"),
            (
                "CIVICPULSE_QUERY_PASSWORD",
                "EXAMPLE-ONLY-replace-with-openssl-rand-hex-32",
            ),
        ];
        assert_eq!(
            check_vars(vars),
            Err(SecretError::ExampleValue {
                var: "CIVICPULSE_QUERY_PASSWORD".into()
            })
        );
    }
}
