//! A test client of the sync protocol: pushes numbered mutations and pulls
//! pages as a desktop would, without the desktop's store, so server tests
//! can send exactly the requests they mean (hostile ones included).

use bson::Document;
use promptforge_wire::protocol::{
    Mutation, MutationOp, MutationOutcome, MutationResult, PullRequest, PullResponse, PushRequest,
    PushResponse, RejectReason,
};
use promptforge_wire::schema::{Model, Prompt};

use crate::server::TestServer;
use crate::tokens::token;

pub fn doc_of<T: Model>(model: &T) -> Document {
    bson::to_document(model).expect("encode")
}

pub fn prompt_doc(user: &str, id: &str, title: &str) -> Document {
    let mut prompt = Prompt::new(user, title, &format!("content of {title}"));
    prompt.id = id.to_owned();
    doc_of(&prompt)
}

/// One desktop's view of the protocol: a user's token and a client id.
#[derive(Debug)]
pub struct Client<'a> {
    pub server: &'a TestServer,
    pub token: String,
    pub client_id: String,
    /// The next mutation id.
    pub next: u64,
}

impl<'a> Client<'a> {
    pub fn new(server: &'a TestServer, user: &str, client_id: &str) -> Self {
        Client {
            server,
            token: token(user),
            client_id: client_id.to_owned(),
            next: 1,
        }
    }

    pub fn mutation(
        &mut self,
        collection: &str,
        id: &str,
        base_version: i64,
        op: MutationOp,
    ) -> Mutation {
        let mutation = Mutation {
            mutation_id: self.next,
            collection: collection.to_owned(),
            id: id.to_owned(),
            base_version,
            op,
        };
        self.next += 1;
        mutation
    }

    pub async fn push(&self, mutations: Vec<Mutation>) -> Vec<MutationResult> {
        let request = PushRequest {
            client_id: self.client_id.clone(),
            mutations,
        };
        let response: PushResponse = self.server.call("/v1/push", &self.token, &request).await;
        response.results
    }

    pub async fn push_one(
        &mut self,
        collection: &str,
        id: &str,
        base_version: i64,
        op: MutationOp,
    ) -> MutationOutcome {
        let mutation = self.mutation(collection, id, base_version, op);
        self.push(vec![mutation]).await.remove(0).outcome
    }

    pub async fn create(
        &mut self,
        collection: &str,
        id: &str,
        document: Document,
    ) -> MutationOutcome {
        self.push_one(collection, id, 0, MutationOp::Create { document })
            .await
    }

    pub async fn patch(
        &mut self,
        collection: &str,
        id: &str,
        base_version: i64,
        changes: Document,
        base: Document,
    ) -> MutationOutcome {
        self.push_one(
            collection,
            id,
            base_version,
            MutationOp::Patch { changes, base },
        )
        .await
    }

    /// Patches one field, whose value at `base_version` was absent.
    pub async fn set(
        &mut self,
        collection: &str,
        id: &str,
        base_version: i64,
        field: &str,
        value: impl Into<bson::Bson>,
    ) -> MutationOutcome {
        let changes = bson::doc! { field: value.into() };
        let base = bson::doc! { field: bson::Bson::Null };
        self.patch(collection, id, base_version, changes, base)
            .await
    }

    pub async fn pull(&self, collection: &str, checkpoint: i64) -> PullResponse {
        let request = PullRequest {
            collection: collection.to_owned(),
            checkpoint,
            max_bytes: None,
        };
        self.server.call("/v1/pull", &self.token, &request).await
    }

    /// Every change after `checkpoint`, following pages.
    pub async fn pull_all(
        &self,
        collection: &str,
        mut checkpoint: i64,
    ) -> (Vec<promptforge_wire::protocol::Change>, i64) {
        let mut all = Vec::new();
        loop {
            let page = self.pull(collection, checkpoint).await;
            checkpoint = page.checkpoint;
            all.extend(page.changes);
            if !page.has_more {
                return (all, checkpoint);
            }
        }
    }
}

/// Whether no sequence number occurs twice among the `(seq, id)` changes a
/// reader received.
pub fn each_seq_once(seen: &[(i64, String)]) -> bool {
    let mut seqs = std::collections::HashSet::new();
    seen.iter().all(|(seq, _)| seqs.insert(*seq))
}

pub fn applied_version(outcome: &MutationOutcome) -> i64 {
    match outcome {
        MutationOutcome::Applied { version, .. } => *version,
        other => panic!("expected applied, got {other:?}"),
    }
}

pub fn rejected(outcome: &MutationOutcome) -> RejectReason {
    match outcome {
        MutationOutcome::Rejected { reason, .. } => *reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}
