//! `homelabd adopt CONTAINER`: proposes a definition for a container started outside
//! homelabd, as a branch (and a pull request where `[propose.github]` is set) — the same
//! work as the MCP tool `adopt-unmanaged-resource`, for the person at the terminal.

use super::Exit;
use super::args::{AdoptArgs, OutputFormat};
use super::mcp_cmd::{context, resolve, runtime};
use crate::mcp::reply::{Refusal, Summary};
use crate::mcp::{AdoptRequest, HomelabMcp};
use std::sync::Arc;

pub fn adopt(args: AdoptArgs) -> anyhow::Result<Exit> {
    let (settings, repo) = resolve(&args.store, &args.repo, &args.branch, &args.path)?;
    runtime()?.block_on(async {
        let ctx = context(&settings, repo, false).await?;
        let server = HomelabMcp::new(Arc::new(ctx));
        let request = AdoptRequest {
            container: args.container.clone(),
            name: args.name.clone(),
            pool: args.pool.clone(),
            workload_type: args.workload_type.clone(),
            reason: args.reason.clone(),
            dry_run: args.dry_run,
        };
        match server.adopt(request, "cli".to_owned()).await {
            Ok(answer) => {
                match args.output {
                    OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
                    OutputFormat::Text => println!("{}", answer.summary()),
                }
                Ok(Exit::Ok)
            }
            Err(Refusal::Fixable {
                message,
                reasons,
                problems,
            }) => {
                eprintln!("homelabd adopt: {message}");
                for r in reasons {
                    eprintln!("  - {r}");
                }
                for p in problems {
                    eprintln!("  - {}", p.line());
                }
                Ok(Exit::Invalid)
            }
            Err(Refusal::Unavailable(e)) => anyhow::bail!("{e}"),
            Err(Refusal::Protocol(e)) => anyhow::bail!("{}", e.message),
        }
    })
}
