//! One run, phase by phase: fixture, steady sockets (and their memory, S1), then the
//! payment phase with any churning clients (S5), the drain (until every practice's
//! subscriptions have what they are owed), the servers' memory once every client has
//! left, and the report. The servers' RSS series is sampled from start to end.

use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::churn::{self, ChurnTrack};
use crate::eventlog::{self, Tail};
use crate::fixture::{patient_of, practice_of};
use crate::memory::{self, Memory, Phase};
use crate::mutator::{self, Posted};
use crate::report::{self, Window};
use crate::servers::{Proc, Servers, sample_series};
use crate::stats::Shared;
use crate::subscriber::{self, target_of};
use crate::tokens::Tokens;
use crate::{Args, fixture, gauge};

pub async fn run(args: Args) -> anyhow::Result<()> {
    let origin = Instant::now();
    let servers = Servers::new(&args.server_pid);
    let me = Proc::new(std::process::id());
    let shared = Arc::new(Shared::new(args.target.len(), args.practices));
    let every = Duration::from_secs(args.sample_every_secs);
    let series = (!servers.is_empty())
        .then(|| tokio::spawn(sample_series(Servers::new(&args.server_pid), origin, every, shared.clone())));

    let http = fixture::Http::new(args.mutate_target())?;
    let mut practices =
        fixture::build_all(&http, &args.admin_key, args.practices).await.context("building the fixture")?;
    let tokens = Tokens::from_args(&args)?;
    if tokens.is_some() {
        // One patient per socket: connection i is patient i / N of practice i mod N.
        let per_practice = args.connections.div_ceil(args.practices);
        for practice in &mut practices {
            practice.add_patients(&http, per_practice).await.context("adding the patients")?;
        }
    }
    let before = Phase::record(&servers, "before connecting", memory::HELD).await?;

    let connect_started = Instant::now();
    let (wanted, _) = watch::channel(args.subs_per_conn);
    let sockets = subscriber::open_all(&args, &practices, tokens.as_ref(), &wanted, shared.clone()).await?;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let confirmed = gauge::wait_for(&args.target, expected(&args, args.subs_per_conn), timeout(&args)).await;
    eprintln!("{} connections × {} subscriptions ready in {connect_secs:.1}s", sockets.len(), args.subs_per_conn);
    let subscribed = Phase::record(&servers, "subscribed", memory::HELD).await?;
    let subs_per_conn = args.subs_per_conn + args.extra_subs_per_conn;
    let (mut extra, mut confirmed_extra) = (None, None);
    if args.extra_subs_per_conn > 0 {
        wanted.send_replace(subs_per_conn);
        confirmed_extra = Some(gauge::wait_for(&args.target, expected(&args, subs_per_conn), timeout(&args)).await);
        extra = Phase::record(&servers, "with extra subscriptions", memory::HELD).await?;
    }
    drop(wanted);
    let mut memory = Memory { before, subscribed, extra, left: None, confirmed, confirmed_extra };

    // The churning clients start where the log is now, so they owe every payment. They
    // are on the only practice: main refuses `--churn` with several.
    let churned_on = &practices[0];
    let churn_start = if args.churn > 0 {
        let cursor = eventlog::last_cursor(&http, &churned_on.writer_key, &churned_on.practice_id).await?;
        let start = churn::Start {
            key: churned_on.subscriber_key.clone(),
            practice: churned_on.practice_id.clone(),
            cursor: cursor.clone(),
        };
        Some((cursor, churn::start_all(&args, start, shared.clone())))
    } else {
        None
    };

    let executions_before = gauge::executions(&args.target).await;
    let cpu_start = (servers.sample()?, me.sample()?);
    let window_start = Instant::now();
    let posted = if args.rate > 0 {
        mutator::run(&args, &http, &practices, shared.clone()).await
    } else {
        if args.churn > 0 {
            tokio::time::sleep(Duration::from_secs(args.duration)).await;
        }
        Posted::default()
    };
    let tail = match &churn_start {
        Some((cursor, _)) => eventlog::tail(&http, &churned_on.writer_key, &churned_on.practice_id, cursor).await?,
        None => Tail::default(),
    };
    let owed = owed(&args, &posted, subs_per_conn);
    let delivered = || owed.iter().enumerate().all(|(practice, &owed)| shared.delivered(practice) >= owed);
    let churned = |tail: &Tail| {
        churn_start
            .as_ref()
            .is_none_or(|(_, (_, progress))| progress.iter().all(|p| p.load(Ordering::Relaxed) >= tail.last_seq))
    };
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
    let phase_ran = args.rate > 0 || args.churn > 0;
    while phase_ran && (!delivered() || !churned(&tail)) && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window =
        Window { started_secs: (window_start - origin).as_secs_f64(), secs: window_start.elapsed().as_secs_f64() };
    let cpu_end = (servers.sample()?, me.sample()?);
    let executions = executions_before.zip(gauge::executions(&args.target).await).map(|(a, b)| b.saturating_sub(a));
    shared.stop();

    let mut subs = Vec::new();
    for socket in sockets {
        subs.push(socket.await?);
    }
    let mut churners: Vec<ChurnTrack> = Vec::new();
    if let Some((_, (tasks, _))) = churn_start {
        for task in tasks {
            churners.push(task.await?);
        }
    }
    if memory.before.is_some() {
        gauge::wait_for_none(&args.target, timeout(&args)).await;
        memory.left = Phase::record(&servers, "after every client left", memory::HELD_AFTER_LEAVING).await?;
    }
    let series = match series {
        Some(task) => task.await?,
        None => Vec::new(),
    };

    let summary = report::Summary::new(report::Inputs {
        args: &args,
        connect_secs,
        window,
        posted,
        subs,
        shared: &shared,
        memory: &memory,
        server: [cpu_start.0, cpu_end.0],
        executions,
        loadgen: [cpu_start.1, cpu_end.1],
        churn: (args.churn > 0).then_some((churners, tail)),
        series,
    });
    summary.print();
    Ok(())
}

/// Subscriptions each target should show open: its steady sockets × `subs_per_conn`.
fn expected(args: &Args, subs_per_conn: usize) -> Vec<u64> {
    let mut per_target = vec![0; args.target.len()];
    for index in 0..args.connections {
        per_target[target_of(index, args.target.len())] += subs_per_conn as u64;
    }
    per_target
}

/// Deliveries owed per practice: what each socket on it is owed × its subscriptions.
fn owed(args: &Args, posted: &Posted, subs_per_conn: usize) -> Vec<u64> {
    let mut per_practice = vec![0; args.practices];
    let patients = args.patient_token_key.is_some();
    for index in 0..args.connections {
        let practice = practice_of(index, args.practices);
        let patient = patients.then(|| patient_of(index, args.practices));
        per_practice[practice] += posted.owed(practice, patient) * subs_per_conn as u64;
    }
    per_practice
}

fn timeout(args: &Args) -> Duration {
    Duration::from_secs(args.subscribe_timeout)
}
