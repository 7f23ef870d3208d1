//! `netsentinel vault ...` and the passphrase: from `NETSENTINEL_VAULT_PASSPHRASE` or a
//! terminal prompt, never from the command line (where other users could read it in the
//! process list).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use netsentinel_core::vault::{Vault, VaultRecord};

/// The environment variable holding the passphrase for non-interactive use.
pub const PASSPHRASE_ENV: &str = "NETSENTINEL_VAULT_PASSPHRASE";

#[derive(Subcommand)]
pub enum VaultAction {
    /// Create an empty vault.
    Init {
        /// The vault file.
        #[arg(long)]
        vault: PathBuf,
    },
    /// List the credentials, secrets masked.
    List {
        /// The vault file.
        #[arg(long)]
        vault: PathBuf,
        /// Only records whose user, protocol, server, client or mechanism contains this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one credential in full, by its number in `list`.
    Show {
        /// The vault file.
        #[arg(long)]
        vault: PathBuf,
        /// Record number.
        index: usize,
    },
    /// Export every credential in full.
    Export {
        /// The vault file.
        #[arg(long)]
        vault: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file (created with mode 0600) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A JSON array of records.
    Json,
    /// CSV with a header line.
    Csv,
}

/// The passphrase, from the environment or a prompt (twice when `confirm`).
pub fn passphrase(confirm: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    anyhow::ensure!(
        io::stdin().is_terminal(),
        "no vault passphrase: set {PASSPHRASE_ENV} or run from a terminal"
    );
    let first = rpassword::prompt_password("Vault passphrase: ")?;
    if confirm {
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the passphrases differ");
    }
    Ok(first)
}

pub fn run(action: VaultAction) -> anyhow::Result<()> {
    match action {
        VaultAction::Init { vault } => {
            Vault::create(&vault, &passphrase(true)?)?;
            println!("{}: empty vault created", vault.display());
        }
        VaultAction::List { vault, search } => {
            let v = Vault::open(&vault, &passphrase(false)?)?;
            let mut out = io::stdout().lock();
            let rows: Vec<(usize, &VaultRecord)> = match &search {
                Some(s) => v.search(s).collect(),
                None => v.records().iter().enumerate().collect(),
            };
            for (i, r) in rows {
                writeln!(
                    out,
                    "{i:>5}  {}  {:<6} {:<14} {} -> {}:{}  {} / {}  ({})",
                    r.timestamp.to_rfc3339(),
                    r.protocol,
                    r.mechanism,
                    r.client,
                    r.server,
                    r.server_port,
                    r.username.as_deref().unwrap_or("-"),
                    r.masked_secret(),
                    r.outcome
                )?;
            }
        }
        VaultAction::Show { vault, index } => {
            let v = Vault::open(&vault, &passphrase(false)?)?;
            let r = v.records().get(index).with_context(|| {
                format!(
                    "{}: no record {index} (it holds {})",
                    vault.display(),
                    v.records().len()
                )
            })?;
            println!("{}", serde_json::to_string_pretty(r)?);
        }
        VaultAction::Export {
            vault,
            format,
            output,
        } => {
            let v = Vault::open(&vault, &passphrase(false)?)?;
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(private_file(p)?),
                None => Box::new(io::stdout().lock()),
            };
            match format {
                ExportFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, v.records())?;
                    writeln!(out)?;
                }
                ExportFormat::Csv => {
                    let mut w = csv::Writer::from_writer(out);
                    for r in v.records() {
                        w.serialize(r)?;
                    }
                    w.flush()?;
                }
            }
        }
    }
    Ok(())
}

/// A new file only its owner can read.
fn private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Opens an existing vault for `analyze --vault` (before the analysis, so a wrong
/// passphrase costs nothing).
pub fn open_existing(vault: &Path) -> anyhow::Result<Vault> {
    anyhow::ensure!(
        vault.exists(),
        "{}: no vault there (create one with `netsentinel vault init --vault {}`)",
        vault.display(),
        vault.display()
    );
    Ok(Vault::open(vault, &passphrase(false)?)?)
}
