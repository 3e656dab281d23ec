//! `customiseyou-admin bootstrap` on DynamoDB (moto's server, started by the test command): the
//! first admin can sign in, the starter tree is there, a second run changes nothing, and the
//! real binary reads the password from stdin. Skips without an emulator unless
//! `CY_REQUIRE_EMULATOR` is set.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use customiseyou_admin::{Bootstrap, STARTER_CATEGORIES, bootstrap};
use cy_domain::{Email, Password, PersonName, Role};

fn emulator() -> Option<String> {
    match std::env::var("CY_DYNAMODB_ENDPOINT") {
        Ok(_) => std::env::var("CY_TABLE_NAME").ok(),
        Err(_) => {
            assert!(
                std::env::var("CY_REQUIRE_EMULATOR").is_err(),
                "CY_REQUIRE_EMULATOR is set but no emulator is configured"
            );
            eprintln!("skipping: no DynamoDB emulator configured");
            None
        }
    }
}

fn unique_email(what: &str) -> String {
    format!(
        "{what}-{}@ops.example.in",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

#[tokio::test]
async fn a_fresh_stage_gets_an_admin_who_can_sign_in_and_a_starter_tree_once() {
    let Some(table) = emulator() else { return };
    let store: Arc<dyn cy_data::Store> = Arc::new(cy_store_dynamodb::DynamoStore::for_table(table).await);
    let email = unique_email("first-admin");
    let what = || Bootstrap {
        email: Email::parse(&email).unwrap(),
        password: Password::parse("a-long-admin-password").unwrap(),
        name: PersonName::parse("Ops").unwrap(),
        starter_categories: true,
    };
    let first = bootstrap(store.clone(), what()).await.unwrap();
    assert!(first.admin_created);
    let again = bootstrap(store.clone(), what()).await.unwrap();
    assert_eq!((again.admin_created, again.categories_created), (false, 0), "a second run changes nothing");
    let categories = cy_data::catalog::categories(store.as_ref()).await.unwrap();
    for (id, _, parent) in STARTER_CATEGORIES {
        let found = categories.iter().find(|c| c.slug.as_str() == *id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(found.parent.as_ref().map(|p| p.as_str()), *parent);
    }
    // The admin signs in through the accounts service, as the API would, and is an admin.
    let keys = Arc::new(cy_http::JwtKeys::new(b"bootstrap-test-secret-bootstrap-test!", None).unwrap());
    let accounts = cy_api::accounts::Accounts::new(store.clone(), keys.clone());
    let pair = accounts.login(&Email::parse(&email).unwrap(), "a-long-admin-password", "127.0.0.1").await.unwrap();
    let claims = keys.verify(&pair.access_token).unwrap();
    assert_eq!(claims.role, Role::Admin);
    assert!(accounts.login(&Email::parse(&email).unwrap(), "wrong-password", "127.0.0.1").await.is_err());
}

#[test]
fn the_binary_reads_the_password_from_stdin_and_refuses_a_short_one() {
    let Some(table) = emulator() else { return };
    let run = |email: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_customiseyou-admin"))
            .args(["bootstrap", "--table", &table, "--email", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn customiseyou-admin");
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let email = unique_email("cli-admin");
    let made = run(&email, "another-long-password");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert_eq!(String::from_utf8_lossy(&made.stdout).trim(), format!("admin {email} created"));
    let again = run(&email, "another-long-password");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already has an account"));
    let short = run(&unique_email("short"), "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"), "{}", String::from_utf8_lossy(&short.stderr));
}
