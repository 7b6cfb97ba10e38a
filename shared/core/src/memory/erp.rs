//! An in-memory ERP: stores postings by idempotency key, refuses conflicts.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::erp::{Erp, ErpError, JournalEntry, Posting};

#[derive(Default)]
pub struct MemoryErp {
    entries: Mutex<Vec<JournalEntry>>,
    failures: Mutex<Vec<ErpError>>,
}

impl MemoryErp {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.lock().unwrap().clone()
    }

    pub fn fail_next(&self, errors: Vec<ErpError>) {
        *self.failures.lock().unwrap() = errors;
    }
}

#[async_trait]
impl Erp for MemoryErp {
    async fn post_journal_entry(&self, entry: &JournalEntry) -> Result<Posting, ErpError> {
        {
            let mut f = self.failures.lock().unwrap();
            if !f.is_empty() {
                return Err(f.remove(0));
            }
        }
        let mut entries = self.entries.lock().unwrap();
        if let Some(i) = entries
            .iter()
            .position(|e| e.idempotency_key() == entry.idempotency_key())
        {
            if entries[i] != *entry {
                return Err(ErpError::Conflict(entry.idempotency_key().into()));
            }
            return Ok(Posting {
                id: format!("JE-{}", i + 1),
                replayed: true,
            });
        }
        entries.push(entry.clone());
        Ok(Posting {
            id: format!("JE-{}", entries.len()),
            replayed: false,
        })
    }
}
