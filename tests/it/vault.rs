//! The vault against stored rows: rotation, and the start-up key check.

use tgdesk::store::accounts::{self, LoginProfile};
use tgdesk::store::events::{self, NewEvent};
use tgdesk::store::sealed::{self, SealedRow};
use tgdesk::store::sessions;
use tgdesk::vault::check::{self, CheckError};
use tgdesk::vault::rotate;
use tgdesk::vault::{self as vault_mod, Aad, Vault, VaultError, VaultKey};

use crate::helpers::{TestDb, vault_with};

backend_tests!(
    rotation_reseals_every_column_and_is_idempotent,
    rotation_leaves_a_row_rewritten_meanwhile_alone,
    startup_check_names_a_missing_key_and_changes_nothing,
    startup_check_refuses_an_altered_row,
    startup_check_passes_on_an_empty_database_and_reports_old_keys,
);

/// Seals one row into every sealed column for a new account.
async fn seed(t: &TestDb, vault: &Vault, telegram_user_id: i64) -> i64 {
    let id = accounts::upsert_login(
        t.db.pool(),
        &LoginProfile {
            telegram_user_id,
            display_name: "Ann",
            username: None,
            phone_masked: Some("+44 •••• ••01 23"),
            home_dc: Some(2),
        },
        1,
    )
    .await
    .expect("account")
    .id;
    let phone = vault
        .seal(&Aad::account_phone(id), b"+447700900123")
        .expect("seal");
    accounts::set_phone_sealed(t.db.pool(), id, Some(&phone))
        .await
        .expect("phone");
    let auth = vault
        .seal(&Aad::account_auth(id), b"auth material")
        .expect("seal");
    sessions::put_auth(t.db.pool(), id, &auth, 1)
        .await
        .expect("auth");
    for peer in [555, -1_000_000_000_777] {
        let sealed = vault
            .seal(&Aad::account_peer(id, peer), b"peer")
            .expect("seal");
        sessions::put_peer(t.db.pool(), id, peer, &sealed, 1)
            .await
            .expect("peer");
    }
    let batch = [
        NewEvent {
            kind: "message_new",
            chat_id: 555,
            message_id: Some(1),
            payload: b"hello",
        },
        NewEvent {
            kind: "message_new",
            chat_id: 555,
            message_id: Some(2),
            payload: b"again",
        },
    ];
    events::append(&t.db, id, &batch, 1, |cursor, e| {
        vault.seal(&Aad::event(id, cursor), e.payload)
    })
    .await
    .expect("events");
    tgdesk::store::webhooks::insert(&t.db, id, "https://hooks.example.com/", 0, 1, |hook| {
        vault.seal(&Aad::for_row(&sealed::WEBHOOK_SECRET, &[hook]), b"whsec_x")
    })
    .await
    .expect("webhook");
    id
}

/// Every sealed row of every sealed column.
async fn snapshot(t: &TestDb) -> Vec<(&'static str, SealedRow)> {
    let mut rows = Vec::new();
    for column in sealed::ALL {
        // No blob starts with five zero bytes: this lists them all.
        for row in sealed::page_without_header(t.db.pool(), column, &[0; 5], None, 10_000)
            .await
            .expect("list")
        {
            rows.push((column.table, row));
        }
    }
    rows
}

fn open_all(vault: &Vault, rows: &[(&'static str, SealedRow)]) -> Result<(), VaultError> {
    for (table, row) in rows {
        let column = sealed::ALL
            .iter()
            .find(|c| c.table == *table)
            .expect("column");
        vault.open(&Aad::for_row(column, &row.key), &row.blob)?;
    }
    Ok(())
}

async fn rotation_reseals_every_column_and_is_idempotent(t: &TestDb) {
    let old = VaultKey::generate().expect("key");
    let new = VaultKey::generate().expect("key");
    seed(t, &vault_with(&[&old]), 1).await;
    seed(t, &vault_with(&[&old]), 2).await;
    let before = snapshot(t).await;
    for column in sealed::ALL {
        assert!(
            before.iter().any(|(table, _)| *table == column.table),
            "the test must cover {}",
            column.table
        );
    }

    let both = vault_with(&[&old, &new]);
    let report = rotate::rotate(&t.db, &both).await.expect("rotate");
    assert_eq!(report.resealed(), before.len() as u64);
    assert_eq!(report.remaining(), 0);
    assert!(report.to_string().starts_with(&format!(
        "re-sealed {} rows under vault key {}",
        before.len(),
        new.id()
    )));

    let after = snapshot(t).await;
    assert_eq!(after.len(), before.len());
    for (_, row) in &after {
        assert_eq!(vault_mod::blob_key_id(&row.blob).expect("header"), new.id());
    }
    open_all(&vault_with(&[&new]), &after).expect("the new key alone opens everything");
    let err = open_all(&vault_with(&[&old]), &after).expect_err("old key no longer enough");
    assert!(matches!(err, VaultError::MissingKey(id) if id == new.id()));

    let again = rotate::rotate(&t.db, &both).await.expect("rotate again");
    assert_eq!(again.resealed(), 0, "idempotent");
    assert_eq!(snapshot(t).await, after, "a second run changes nothing");
}

async fn rotation_leaves_a_row_rewritten_meanwhile_alone(t: &TestDb) {
    let old = VaultKey::generate().expect("key");
    let new = VaultKey::generate().expect("key");
    let id = seed(t, &vault_with(&[&old]), 1).await;
    let both = vault_with(&[&old, &new]);
    let stored = sessions::get_auth(t.db.pool(), id)
        .await
        .expect("get")
        .expect("auth");
    let resealed = both
        .reseal(&Aad::account_auth(id), &stored)
        .expect("reseal");
    // Meanwhile the service rewrote the row.
    let rewritten = both
        .seal(&Aad::account_auth(id), b"newer auth material")
        .expect("seal");
    sessions::put_auth(t.db.pool(), id, &rewritten, 2)
        .await
        .expect("rewrite");

    let swapped = sealed::compare_and_swap(
        t.db.pool(),
        &sealed::ACCOUNT_AUTH,
        &[id],
        &stored,
        &resealed,
    )
    .await
    .expect("cas");
    assert!(!swapped, "the stale blob must not overwrite the newer one");
    let now = sessions::get_auth(t.db.pool(), id)
        .await
        .expect("get")
        .expect("auth");
    assert_eq!(
        &**both.open(&Aad::account_auth(id), &now).expect("open"),
        b"newer auth material"
    );
}

async fn startup_check_names_a_missing_key_and_changes_nothing(t: &TestDb) {
    let old = VaultKey::generate().expect("key");
    let other = VaultKey::generate().expect("key");
    seed(t, &vault_with(&[&old]), 1).await;
    let before = snapshot(t).await;

    let err = check::check(&t.db, &vault_with(&[&other]))
        .await
        .expect_err("missing key");
    match &err {
        CheckError::MissingKeys { missing } => {
            assert_eq!(missing.len(), 1);
            assert_eq!(missing[0].key_id, old.id());
        }
        other => panic!("unexpected error: {other}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("vault key {} is missing: rows in ", old.id())),
        "{message}"
    );
    assert!(message.contains("add it to TGDESK_VAULT_KEYS"), "{message}");
    assert!(message.contains("account_auth"), "{message}");
    assert_eq!(snapshot(t).await, before, "the check changed nothing");

    // With the key added (even as the older one) the start-up goes ahead.
    let report = check::check(&t.db, &vault_with(&[&old, &other]))
        .await
        .expect("fits");
    assert!(report.older_keys_in_use);
}

async fn startup_check_refuses_an_altered_row(t: &TestDb) {
    let key = VaultKey::generate().expect("key");
    let id = seed(t, &vault_with(&[&key]), 1).await;
    let mut blob = sessions::get_auth(t.db.pool(), id)
        .await
        .expect("get")
        .expect("auth");
    let last = blob.len() - 1;
    blob[last] ^= 0x80;
    sessions::put_auth(t.db.pool(), id, &blob, 2)
        .await
        .expect("tamper");

    let err = check::check(&t.db, &vault_with(&[&key]))
        .await
        .expect_err("altered");
    assert_eq!(
        err.to_string(),
        format!(
            "stored data in account_auth (row {id}) does not open with vault key {}: the row was altered or corrupted; tgdesk changed nothing",
            key.id()
        )
    );
}

async fn startup_check_passes_on_an_empty_database_and_reports_old_keys(t: &TestDb) {
    let key = VaultKey::generate().expect("key");
    let report = check::check(&t.db, &vault_with(&[&key]))
        .await
        .expect("empty database fits any key");
    assert!(report.keys_in_use.is_empty());
    assert_eq!(report.to_string(), "no sealed data yet");

    seed(t, &vault_with(&[&key]), 1).await;
    let report = check::check(&t.db, &vault_with(&[&key]))
        .await
        .expect("fits");
    assert!(!report.older_keys_in_use);
    assert_eq!(report.keys_in_use.len(), 1);
}
