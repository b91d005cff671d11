//! Helpers shared by the integration tests: an in-memory host and a real-filesystem host.
#![allow(dead_code)]

use ferrosip_config::Host;
use std::collections::HashMap;

/// Files and environment held in memory.
#[derive(Default)]
pub struct MemHost {
    pub files: HashMap<String, String>,
    pub env: HashMap<String, String>,
}

impl MemHost {
    pub fn with(files: &[(&str, &str)]) -> MemHost {
        MemHost {
            files: files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            env: HashMap::new(),
        }
    }
}

impl Host for MemHost {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.files
            .get(path)
            .map(|t| t.as_bytes().to_vec())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found"))
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

/// Reads the real filesystem (paths relative to the process cwd) and environment.
pub struct FsHost;

impl Host for FsHost {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// CI mode: missing reference files or binaries are failures, not skips.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}
