//! The guard chain on one session: an allowed send (charged, its fact
//! appended with it), then one denial of each kind, each leaving the wire,
//! the budgets and the journal untouched.
//!
//! ```text
//! cargo run --example guard_chain
//! ```

use std::sync::{Arc, Mutex};

use choreo_runtime::guard::{
    Annotations, BudgetPolicy, CapabilitySet, ContextId, Guard, GuardConfig, ManualClock,
    ObserverClass, PeerKey, RecordSends,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::{
    memory, Error, Label, MemoryConfig, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session,
    SessionConfig, SessionId,
};

static INVITES: ProtocolInfo = ProtocolInfo {
    name: "Invites",
    fingerprint: [7; 32],
    roles: &["Account", "Guardian"],
    labels: &["Invite"],
};
const ACCOUNT: RoleId = RoleId::single(Role(0));
const GUARDIAN: RoleId = RoleId::single(Role(1));
const INVITE: Label = Label(0);
const CONTEXT: ContextId = ContextId([1; 32]);
const GUARDIAN_KEY: PeerKey = PeerKey([0xB; 32]);

/// What the generator emits for
/// `@guard("guardian:invite") @cost(4) @journal("invited") @leak(relationship, 8)`.
const INVITE_ANNOTATIONS: Annotations<'static> = Annotations {
    guard: &["guardian:invite"],
    cost: 4,
    journal: &["invited"],
    leak: &[(ObserverClass::Relationship, 8)],
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let scope = ScopeId([9; 32]);
    let node_key = SigningKey::from_bytes(&[0xA; 32]);
    let journal = Arc::new(Mutex::new(
        Journal::open(scope, MemoryStore::new())
            .map_err(|e| choreo_runtime::UsageError::Host(e.to_string()))?,
    ));
    let budgets = GuardConfig {
        flow: BudgetPolicy {
            capacity: 10,
            refill_per_sec: 1,
        },
        leakage: [BudgetPolicy {
            capacity: 64,
            refill_per_sec: 0,
        }; 4],
    };
    let guard = Guard::new(budgets, Arc::new(ManualClock::default())).with_journal(
        journal.clone(),
        RecordSends {
            key: node_key,
            scope,
        },
    );

    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single])?;
    let mut net = memory::network(2, MemoryConfig::default()).into_iter();
    let (Some(to_account), Some(to_guardian)) = (net.next(), net.next()) else {
        unreachable!("a network of two has two endpoints")
    };
    let guarded = guard.wrap(
        to_account,
        CONTEXT,
        vec![PeerKey([0xA; 32]), GUARDIAN_KEY],
        CapabilitySet::grant(["guardian:invite"]),
    );
    let config = |me| SessionConfig {
        id: SessionId([1; 16]),
        protocol: &INVITES,
        me,
        roster: roster.clone(),
    };
    let mut account = Session::new(config(ACCOUNT), guarded)?;
    let mut guardian = Session::new(config(GUARDIAN), to_guardian)?;

    let show = |what: &str| {
        let facts = journal.lock().map(|j| j.facts().len()).unwrap_or(0);
        println!(
            "{what:<28} flow left {:>2}, relationship bits left {:>2}, journal facts {facts}",
            guard.flow_available(CONTEXT, GUARDIAN_KEY),
            guard.leakage_available(ObserverClass::Relationship),
        );
    };
    show("start");
    account
        .send_guarded(
            GUARDIAN,
            INVITE,
            &"join my recovery set",
            &INVITE_ANNOTATIONS,
        )
        .await?;
    let got: String = guardian.recv(ACCOUNT, INVITE).await?;
    show(&format!("allowed, guardian got {got:?}"));

    let too_costly = Annotations {
        cost: 50,
        ..INVITE_ANNOTATIONS
    };
    let too_leaky = Annotations {
        leak: &[(ObserverClass::Relationship, 100)],
        ..INVITE_ANNOTATIONS
    };
    let not_held = Annotations {
        guard: &["guardian:remove"],
        ..INVITE_ANNOTATIONS
    };
    for (what, ann) in [
        ("flow budget", too_costly),
        ("leakage", too_leaky),
        ("capability", not_held),
    ] {
        match account.send_guarded(GUARDIAN, INVITE, &"again", &ann).await {
            Err(Error::Denied(d)) => println!("denied ({what}): {d}"),
            other => println!("unexpected: {other:?}"),
        }
        show("  after the denial");
    }
    // Capabilities only narrow: attenuating with a bigger set adds nothing.
    account.transport_mut().attenuate(&CapabilitySet::none());
    account
        .transport_mut()
        .attenuate(&CapabilitySet::grant(["guardian:invite"]));
    println!(
        "capabilities after attenuation: {:?}",
        account
            .transport_mut()
            .capabilities()
            .iter()
            .collect::<Vec<_>>()
    );
    Ok(())
}
