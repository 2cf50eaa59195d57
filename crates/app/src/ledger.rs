//! The ledger's proofs, as a caller asks for them: that a record is in the
//! tree ([`Inclusion`]) and that one checkpoint extends another
//! ([`Consistency`]). Anyone with an account may ask for a proof; the
//! record's bytes come with it only for a caller who may read that record
//! ([`may_read_record`]).

use crate::{App, AppError, Caller, Operation, Wire};
use pramaan_auth::Role;
use pramaan_vault::ledger::proofs::{self, ConsistencyProof, InclusionProof, ProofRequestError};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/proof/inclusion`: the proof that record `seq` is in the
/// tree of `size` records (default: the latest checkpoint).
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Inclusion {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Operation for Inclusion {
    type Output = InclusionProof;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/proof/inclusion";

    async fn run(self, app: &App, who: &Caller) -> Result<InclusionProof, AppError> {
        app.authorise::<Self>(who)?;
        let mut proof = proofs::inclusion(app.vault(), self.seq, self.size)
            .await
            .map_err(proof_error)?;
        if !may_read_record(who, &proof.record.transport) {
            let whose = if proof.record.transport == pramaan_core::Transport::Internal.as_str() {
                "pramaan's own records are read by auditors"
            } else {
                "log lines are read by analysts and auditors"
            };
            proof
                .record
                .withhold(format!("{whose}; {} has roles {}", who.name, who.roles));
        }
        Ok(proof)
    }
}

/// `GET /api/v1/proof/consistency`: the proof that the tree of `to`
/// records extends the tree of `from`.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    pub from: u64,
    pub to: u64,
}

impl Operation for Consistency {
    type Output = ConsistencyProof;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/proof/consistency";

    async fn run(self, app: &App, who: &Caller) -> Result<ConsistencyProof, AppError> {
        app.authorise::<Self>(who)?;
        proofs::consistency(app.vault(), self.from, self.to)
            .await
            .map_err(proof_error)
    }
}

/// Whether `who` may read the bytes of a record that came over
/// `transport`: pramaan's own records (audit trail, orders, incidents...)
/// are the auditors', log lines the analysts' and auditors'; admin reads
/// both. The same split as searching ([`crate::search`]).
pub fn may_read_record(who: &Caller, transport: &str) -> bool {
    if who.has(Role::Admin) || who.has(Role::Auditor) {
        return true;
    }
    transport != pramaan_core::Transport::Internal.as_str() && who.has(Role::Analyst)
}

/// A proof that cannot be given, as its caller sees it.
pub fn proof_error(e: ProofRequestError) -> AppError {
    match e {
        ProofRequestError::NoLedger | ProofRequestError::NoCheckpoint => {
            AppError::Missing(e.to_string())
        }
        ProofRequestError::BadRequest(m) => AppError::Invalid(m),
        ProofRequestError::NotFound(m) => AppError::Missing(m),
        ProofRequestError::Failed(e) => AppError::internal(e),
    }
}

/// `GET /api/v1/checkpoint`: the latest signed checkpoint (a C2SP signed
/// note, as text).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct LatestCheckpoint {}

impl Operation for LatestCheckpoint {
    type Output = String;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/checkpoint";
    const WIRE: Wire = Wire::Text;

    async fn run(self, app: &App, who: &Caller) -> Result<String, AppError> {
        app.authorise::<Self>(who)?;
        Ok(proofs::checkpoint(app.vault())
            .map_err(proof_error)?
            .note
            .to_string())
    }
}

/// `POST /api/v1/checkpoint/cosign`: a kept checkpoint signed by another
/// key (`vkey`); the signature is checked and kept, and the note with
/// every signature kept so far is the answer.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Cosign {
    pub note: String,
    pub vkey: String,
}

impl Operation for Cosign {
    type Output = String;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/checkpoint/cosign";
    const WIRE: Wire = Wire::Text;

    async fn run(self, app: &App, who: &Caller) -> Result<String, AppError> {
        app.authorise::<Self>(who)?;
        let key = pramaan_ledger::VerifierKey::parse(self.vkey.trim())
            .map_err(|e| AppError::Invalid(format!("vkey: {e}")))?;
        tracing::info!(cosigner = %key.name(), "adding a co-signature to a checkpoint");
        proofs::cosign(app.vault(), self.note.into_bytes(), key)
            .await
            .map_err(proof_error)
    }
}
