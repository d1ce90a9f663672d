//! The subcommands: serve, migrate, schema, keys create, seed-demo, export (the lake).

use anyhow::Context;
use chrono::{Duration, TimeZone};
use std::sync::Arc;

use crate::app::App;
use crate::auth::Principal;
use crate::clock::SystemClock;
use crate::config::{Cli, DbArgs, KeysCommand, PersistedQueriesCommand, Subcommand};
use crate::domain::{Services, api_keys, appointments, billing, patients, practices, providers};
use crate::services::{AppServices, Parts};
use crate::vocab::{PaymentMethod, ProviderKind, Role};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(crate::config::Config::with_env()).await,
        Some(Subcommand::Serve(config)) => serve(*config).await,
        Some(Subcommand::Migrate(db)) => {
            crate::telemetry::init("pretty");
            crate::db::connect(&db).await.context("migrating the database")?;
            println!("migrations applied");
            Ok(())
        }
        Some(Subcommand::Schema { federation }) => {
            print!("{}", if federation { crate::graphql::federation_sdl() } else { crate::graphql::sdl() });
            Ok(())
        }
        Some(Subcommand::Asyncapi) => {
            println!("{}", serde_json::to_string_pretty(&crate::asyncapi::document().await)?);
            Ok(())
        }
        Some(Subcommand::Keys { command: KeysCommand::Create { role, practice_id, name, db } }) => {
            let role =
                Role::parse(&role.to_ascii_uppercase()).context("role must be ADMIN, BACKOFFICE or SUBSCRIBER")?;
            let services = offline_services(&db).await?;
            let input =
                api_keys::CreateApiKeyInput { role, practice_id, name, expires_at: None, idempotency_key: None };
            let created = api_keys::create(&services, &admin(), input).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", created.key);
            eprintln!(
                "created {} key {} (shown once; store it now)",
                created.api_key.role.as_str(),
                created.api_key.id
            );
            Ok(())
        }
        Some(Subcommand::PersistedQueries { command: PersistedQueriesCommand::Register { files, db } }) => {
            register_documents(&files, &db).await
        }
        #[cfg(feature = "lake")]
        Some(Subcommand::Export(args)) => {
            crate::telemetry::init("pretty");
            let db = crate::db::connect(&args.db).await.context("connecting to the database")?;
            let done = crate::lake::export(&args, &db).await.map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
            println!(
                "exported {} rows in {} files ({} bytes) of {} practices to {}",
                done.rows, done.files, done.bytes, done.practices, args.to
            );
            Ok(())
        }
        Some(Subcommand::SeedDemo(db)) => {
            let services = offline_services(&db).await?;
            seed_demo(&services).await.map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

/// Serves until stopped, with logs and (when configured) traces; the spans still queued
/// are exported before the process exits.
async fn serve(config: crate::config::Config) -> anyhow::Result<()> {
    let mut tracing =
        crate::telemetry::init_with_tracing(&config.log_format, &config.tracing).map_err(|e| anyhow::anyhow!(e))?;
    let served = match App::build(config).await {
        Ok(app) => app.run().await,
        Err(err) => Err(err),
    };
    tokio::task::spawn_blocking(move || tracing.shutdown()).await?;
    served
}

/// Registers trusted documents (for `PERSISTED_QUERIES_ONLY`), printing each one's hash.
/// Every file is read and every document parsed before anything is stored.
async fn register_documents(files: &[std::path::PathBuf], db: &DbArgs) -> anyhow::Result<()> {
    let mut documents = Vec::new();
    for file in files {
        for document in crate::persisted::documents_in(file).map_err(|e| anyhow::anyhow!(e))? {
            async_graphql::parser::parse_query(&document)
                .map_err(|e| anyhow::anyhow!("{}: not a GraphQL document: {e}", file.display()))?;
            documents.push(document);
        }
    }
    let db = crate::db::connect(db).await.context("connecting to the database")?;
    let store = crate::persisted::DocumentStore::new(db, u64::MAX);
    let now_ms = chrono::Utc::now().timestamp_millis();
    for document in &documents {
        println!("{}", store.register(document, now_ms).await.context("registering a document")?);
    }
    eprintln!("registered {} document(s)", documents.len());
    Ok(())
}

/// Services for a command that changes the database without serving (built by the one
/// constructor `serve` uses, from the offline parts).
async fn offline_services(db: &DbArgs) -> anyhow::Result<Services> {
    let db = crate::db::connect(db).await.context("connecting to the database")?;
    Ok(AppServices::build(Parts::offline(db, Arc::new(SystemClock)))?.domain)
}

fn admin() -> Principal {
    Principal::bootstrap()
}

/// One practice with two providers, eight patients, a day of appointments and a few
/// payments, plus a BACKOFFICE key to explore it with.
async fn seed_demo(s: &Services) -> Result<(), crate::error::AppError> {
    let who = admin();
    let practice = practices::create(
        s,
        &who,
        practices::CreatePracticeInput {
            name: "Maple Street Dental".into(),
            timezone: "America/New_York".into(),
            currency: "USD".into(),
            idempotency_key: None,
        },
    )
    .await?;
    let mut clinicians = Vec::new();
    for (name, kind) in [("Dr. Ada Park", ProviderKind::Dentist), ("Sam Lee", ProviderKind::Hygienist)] {
        let input = providers::CreateProviderInput {
            practice_id: practice.id.clone(),
            name: name.into(),
            kind,
            idempotency_key: None,
        };
        clinicians.push(providers::create(s, &who, input).await?);
    }
    let names = [
        ("Maria", "Lopez"),
        ("James", "Chen"),
        ("Aisha", "Khan"),
        ("Tom", "Becker"),
        ("Olga", "Ivanova"),
        ("Kofi", "Mensah"),
        ("Lena", "Schmidt"),
        ("Raj", "Patel"),
    ];
    let mut people = Vec::new();
    for (first, last) in names {
        let input = patients::CreatePatientInput {
            practice_id: practice.id.clone(),
            first_name: first.into(),
            last_name: last.into(),
            email: Some(format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase())),
            phone: Some("+1 555 0100".into()),
            date_of_birth: None,
            idempotency_key: None,
        };
        people.push(patients::create(s, &who, input).await?);
    }
    let tz: chrono_tz::Tz = practice.timezone.parse().unwrap_or(chrono_tz::UTC);
    let today = s.clock.now().with_timezone(&tz).date_naive();
    let nine = tz
        .from_local_datetime(&today.and_hms_opt(9, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| s.clock.now());
    for (i, patient) in people.iter().enumerate() {
        let provider = &clinicians[i % clinicians.len()];
        let input = appointments::ScheduleAppointmentInput {
            patient_id: patient.id.clone(),
            provider_id: provider.id.clone(),
            starts_at: nine + Duration::minutes(60 * (i as i64 / 2)),
            duration_minutes: 45,
            reason: Some(if i % 2 == 0 { "Checkup" } else { "Cleaning" }.into()),
            idempotency_key: None,
        };
        appointments::schedule(s, &who, input).await?;
    }
    for patient in people.iter().take(3) {
        let input = billing::PostPaymentInput {
            patient_id: patient.id.clone(),
            amount_cents: 4500,
            method: PaymentMethod::Card,
            reference: Some("demo".into()),
            idempotency_key: None,
        };
        billing::post_payment(s, &who, input).await?;
    }
    let key = api_keys::create(
        s,
        &who,
        api_keys::CreateApiKeyInput {
            role: Role::Backoffice,
            practice_id: Some(practice.id.clone()),
            name: "demo back office".into(),
            expires_at: None,
            idempotency_key: None,
        },
    )
    .await?;
    println!("practice: {} ({})", practice.id, practice.name);
    println!("backoffice key: {}", key.key);
    Ok(())
}
