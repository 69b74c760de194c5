//! The `choreo` command-line tool: the only part of the compiler that
//! touches files and the terminal.
//!
//! Exit codes everywhere: 0 accepted, 1 errors in the input, 2 usage or I/O
//! errors.

use choreo_lang::{
    driver::{compile_with, load_beside, module_name, Compilation, Source},
    has_errors,
    local::LocalProtocol,
    render::{render_all, RenderOptions},
    Diagnostic, FileId,
};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "choreo",
    version,
    about = "Check, project and visualise choreographies written in the .choreo language",
    long_about = "choreo compiles global protocols (choreographies) written in .choreo files.\n\
        It checks them, projects them onto every role, and prints the local types, diagrams\n\
        or generated Rust.\n\n\
        Exit codes: 0 accepted, 1 errors in the input, 2 usage or I/O errors.\n\
        Set CHOREO_LOG=debug for internal tracing on stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check files and print every diagnostic (exit 1 on any error).
    ///
    /// All files are checked together, so `use`, `call` and `link` resolve
    /// across them; modules named by `use` are also looked up next to the
    /// file that uses them (`use a.b;` → `b.choreo` or `a/b.choreo`).
    /// Code generation's checks run too (E05xx), so an accepted file also
    /// compiles through `gen` and `choreography!`.
    Check {
        /// The .choreo files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the canonical local type of every role (see the book's Projection chapter).
    Project {
        /// The .choreo file whose protocols to project (modules it `use`s are loaded from beside it).
        file: PathBuf,
        /// Only this protocol.
        #[arg(long)]
        protocol: Option<String>,
        /// Only this role, e.g. `Initiator`, `Witness` or `Node[0]`.
        #[arg(long)]
        role: Option<String>,
    },
    /// Print a diagram: the global protocol as a sequence diagram, or with
    /// --role the state machine of that role's local type.
    Graph {
        /// The .choreo file that declares the protocol.
        file: PathBuf,
        /// The protocol to draw; may be omitted when FILE declares only one.
        #[arg(long)]
        protocol: Option<String>,
        /// Draw this role's local state machine (its states are named as the
        /// generated typestates) instead of the global sequence diagram.
        #[arg(long)]
        role: Option<String>,
        /// Output format: mermaid (paste into a ```mermaid block) or dot (Graphviz).
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Rewrite files in canonical layout (idempotent; comments are kept).
    ///
    /// A file with syntax errors is left untouched and its errors printed.
    Fmt {
        /// The .choreo files to rewrite in place.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Do not write; print a unified diff of each change and exit 1 if
        /// any file is not already formatted.
        #[arg(long)]
        check: bool,
    },
    /// Model-check the projections: no deadlock, no orphan message, no
    /// unexpected reception, only traces the global protocol allows.
    ///
    /// Explores every reachable state of the projected system with bounded
    /// FIFO channels, for each family size tried. On a violation prints the
    /// shortest counterexample (steps and a mermaid sequence diagram) and
    /// exits 1. Each file is verified on its own (modules it uses are
    /// loaded, but only its own protocols are verified).
    Verify {
        /// The .choreo files whose protocols to verify.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only this protocol.
        #[arg(long)]
        protocol: Option<String>,
        /// Capacity of each channel (ordered pair of participants).
        #[arg(long, default_value_t = 2)]
        bound: usize,
        /// Size for every parameter-sized family (repeat to try several);
        /// default: 2 and 3.
        #[arg(long = "family-size")]
        family_sizes: Vec<u64>,
        /// Value of every quorum parameter; default: every value from 1 to the family size.
        #[arg(long)]
        quorum: Option<u64>,
        /// Stop a run after this many states (the verdict is then
        /// "incomplete", not a proof; exit 1).
        #[arg(long, default_value_t = 1_000_000)]
        max_states: usize,
    },
    /// Print the generated session-typed Rust of every protocol in FILE
    /// (what `choreography!(file = …)` expands to), pretty-printed.
    Gen {
        /// The .choreo file whose protocols to generate.
        file: PathBuf,
    },
    /// Explain a diagnostic code, e.g. `choreo explain E0401`.
    Explain {
        /// The code; omit to list every code.
        code: Option<String>,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

/// Why a command stopped early.
enum Failure {
    /// Errors in the input (already printed): exit 1.
    Rejected,
    /// Usage or I/O error: exit 2.
    Usage(String),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { files } => check(&files),
        Command::Project {
            file,
            protocol,
            role,
        } => project(&file, protocol.as_deref(), role.as_deref()),
        Command::Graph {
            file,
            protocol,
            role,
            format,
        } => graph(&file, protocol.as_deref(), role.as_deref(), format),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Gen { file } => gen(&file),
        Command::Verify {
            files,
            protocol,
            bound,
            family_sizes,
            quorum,
            max_states,
        } => {
            let mut options = choreo_lang::verify::VerifyOptions {
                bound,
                quorum,
                max_states,
                ..Default::default()
            };
            if !family_sizes.is_empty() {
                options.family_sizes = family_sizes;
            }
            verify(&files, protocol.as_deref(), &options)
        }
        Command::Explain { code } => explain(code.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHOREO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn read(path: &Path) -> Result<Source, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read `{}`: {e}", path.display())))?;
    Ok(Source::from_path_text(path.display().to_string(), text))
}

/// Compiles `paths` together, loading used modules from beside their users.
fn compile_paths(paths: &[PathBuf]) -> Result<Compilation, Failure> {
    let roots = paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(files = roots.len(), "compiling");
    Ok(compile_with(roots, &mut |module, user| {
        load_beside(module, user, &mut |path| {
            let text = std::fs::read_to_string(path).ok()?;
            tracing::debug!(module, path = %path.display(), "loaded used module");
            Some(text)
        })
    }))
}

/// Prints every diagnostic of the compilation on stderr; `Err(Rejected)`
/// when any is an error.
fn report(comp: &Compilation) -> Result<(), Failure> {
    report_diagnostics(&comp.diagnostics, comp)
}

/// Prints `diagnostics` on stderr; `Err(Rejected)` when any is an error.
fn report_diagnostics(diagnostics: &[Diagnostic], comp: &Compilation) -> Result<(), Failure> {
    let color = std::io::stderr().is_terminal();
    let text = render_all(diagnostics, &comp.sources, RenderOptions { color });
    eprint!("{text}");
    if has_errors(diagnostics) {
        Err(Failure::Rejected)
    } else {
        Ok(())
    }
}

fn gen(file: &Path) -> Result<(), Failure> {
    let comp = compile_paths(&[file.to_path_buf()])?;
    report(&comp)?;
    match comp.generate_program() {
        Ok(code) => {
            print!("{code}");
            Ok(())
        }
        Err(diagnostics) => report_diagnostics(&diagnostics, &comp),
    }
}

fn check(files: &[PathBuf]) -> Result<(), Failure> {
    let comp = compile_paths(files)?;
    report(&comp)?;
    // What code generation (`gen`, `choreography!`) would still reject
    // (E05xx: Rust names that clash, payloads Rust cannot write), so that
    // a file `check` accepts also compiles as Rust.
    let every_file: Vec<FileId> = (0..comp.sources.len())
        .map(|i| FileId(u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    if let Err(diagnostics) = comp.generate_tokens(&every_file) {
        report_diagnostics(&diagnostics, &comp)?;
    }
    let count = comp.program.protocols().count();
    eprintln!(
        "checked {} file(s): {count} protocol(s) accepted",
        comp.sources.len()
    );
    Ok(())
}

/// The locals of the root file's protocols, filtered by protocol and role.
fn selected_locals<'c>(
    comp: &'c Compilation,
    protocol: Option<&str>,
    role: Option<&str>,
) -> Result<Vec<&'c LocalProtocol>, Failure> {
    let own = comp.files.first().map(module_name).unwrap_or_default();
    let projections: Vec<_> = comp
        .projections
        .iter()
        .filter(|p| p.module == own)
        .collect();
    if let Some(name) = protocol {
        if !projections.iter().any(|p| p.protocol == name) {
            let known: Vec<_> = projections.iter().map(|p| p.protocol.as_str()).collect();
            return Err(Failure::Usage(format!(
                "no protocol `{name}` in this file (it has: {})",
                known.join(", ")
            )));
        }
    }
    let locals: Vec<&LocalProtocol> = projections
        .into_iter()
        .filter(|p| protocol.is_none_or(|name| p.protocol == name))
        .flat_map(|p| &p.locals)
        .collect();
    match role {
        None => Ok(locals),
        Some(role) => {
            let wanted = role.replace(' ', "");
            let chosen: Vec<_> = locals
                .iter()
                .copied()
                .filter(|l| l.target.to_string() == wanted)
                .collect();
            if chosen.is_empty() {
                let known: Vec<_> = locals.iter().map(|l| l.target.to_string()).collect();
                return Err(Failure::Usage(format!(
                    "no role `{role}` (roles: {})",
                    known.join(", ")
                )));
            }
            Ok(chosen)
        }
    }
}

fn project(file: &Path, protocol: Option<&str>, role: Option<&str>) -> Result<(), Failure> {
    let comp = compile_paths(&[file.to_path_buf()])?;
    report(&comp)?;
    let locals = selected_locals(&comp, protocol, role)?;
    let printed: Vec<String> = locals
        .iter()
        .map(|l| choreo_lang::project::print_local(l))
        .collect();
    write_stdout(&printed.join("\n"))
}

fn graph(
    file: &Path,
    protocol: Option<&str>,
    role: Option<&str>,
    format: GraphFormat,
) -> Result<(), Failure> {
    let comp = compile_paths(&[file.to_path_buf()])?;
    report(&comp)?;
    let own = comp.files.first().map(module_name).unwrap_or_default();
    let declared: Vec<&str> = comp
        .program
        .modules
        .iter()
        .filter(|m| m.name == own)
        .flat_map(|m| m.protocols.iter().map(|p| p.name.as_str()))
        .collect();
    let protocol = match (protocol, declared.as_slice()) {
        (Some(name), _) => name,
        (None, [only]) => only,
        (None, []) => {
            return Err(Failure::Usage(format!(
                "`{}` declares no protocol",
                file.display()
            )))
        }
        (None, several) => {
            return Err(Failure::Usage(format!(
                "`{}` declares several protocols ({}): choose one with --protocol",
                file.display(),
                several.join(", ")
            )))
        }
    };
    let Some(global) = comp.program.protocol(&own, protocol) else {
        return Err(Failure::Usage(format!(
            "no protocol `{protocol}` in `{}` (it has: {})",
            file.display(),
            declared.join(", ")
        )));
    };
    let text = match role {
        None => match format {
            GraphFormat::Mermaid => choreo_lang::graph::global_mermaid(global),
            GraphFormat::Dot => choreo_lang::graph::global_dot(global),
        },
        Some(_) => {
            let locals = selected_locals(&comp, Some(protocol), role)?;
            locals
                .iter()
                .map(|l| match format {
                    GraphFormat::Mermaid => choreo_lang::graph::local_mermaid(l),
                    GraphFormat::Dot => choreo_lang::graph::local_dot(l),
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    write_stdout(&text)
}

fn fmt(files: &[PathBuf], check_only: bool) -> Result<(), Failure> {
    let mut unformatted = Vec::new();
    let mut rejected = false;
    for path in files {
        let source = read(path)?;
        let (ast, diagnostics) =
            choreo_lang::syntax::parse_source(&source.text, choreo_lang::FileId(0));
        if choreo_lang::has_errors(&diagnostics) {
            let color = std::io::stderr().is_terminal();
            eprint!(
                "{}",
                render_all(
                    &diagnostics,
                    std::slice::from_ref(&source),
                    RenderOptions { color }
                )
            );
            eprintln!(
                "not formatting `{}`: fix the syntax errors first",
                path.display()
            );
            rejected = true;
            continue;
        }
        let formatted = choreo_lang::fmt::format_file(&ast);
        if formatted == source.text {
            continue;
        }
        if check_only {
            let name = path.display().to_string();
            let diff = similar::TextDiff::from_lines(&source.text, &formatted);
            let patch = diff
                .unified_diff()
                .context_radius(2)
                .header(&name, &format!("{name} (formatted)"))
                .to_string();
            write_stdout(&patch)?;
            eprintln!("would reformat `{name}`");
            unformatted.push(path);
        } else {
            std::fs::write(path, formatted)
                .map_err(|e| Failure::Usage(format!("cannot write `{}`: {e}", path.display())))?;
            eprintln!("formatted `{}`", path.display());
        }
    }
    if rejected || !unformatted.is_empty() {
        Err(Failure::Rejected)
    } else {
        Ok(())
    }
}

fn explain(code: Option<&str>) -> Result<(), Failure> {
    match code {
        Some(code) => match choreo_lang::explain::explain(code) {
            Some(text) => write_stdout(&format!("{}: {text}", code.to_uppercase())),
            None => Err(Failure::Usage(format!(
                "unknown code `{code}`; run `choreo explain` to list every code"
            ))),
        },
        None => {
            let list: Vec<String> = choreo_lang::explain::all()
                .iter()
                .map(|(code, text)| format!("{code}  {}", text.lines().next().unwrap_or("")))
                .collect();
            write_stdout(&list.join("\n"))
        }
    }
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let result = if text.ends_with('\n') || text.is_empty() {
        write!(out, "{text}")
    } else {
        writeln!(out, "{text}")
    };
    // A closed pipe (`choreo project … | head`) is not an error worth reporting.
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Usage(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

fn verify(
    files: &[PathBuf],
    protocol: Option<&str>,
    options: &choreo_lang::verify::VerifyOptions,
) -> Result<(), Failure> {
    if options.bound == 0 {
        return Err(Failure::Usage("--bound must be at least 1".into()));
    }
    if let Some(size) = options
        .family_sizes
        .iter()
        .find(|&&n| n == 0 || n > choreo_lang::verify::MAX_FAMILY_SIZE)
    {
        return Err(Failure::Usage(format!(
            "--family-size {size} is out of range (1 to {})",
            choreo_lang::verify::MAX_FAMILY_SIZE
        )));
    }
    let mut failed = false;
    let mut verified = 0usize;
    let mut incomplete = 0usize;
    for file in files {
        let comp = compile_paths(std::slice::from_ref(file))?;
        if report(&comp).is_err() {
            failed = true;
            continue;
        }
        if let Some(name) = protocol {
            if comp.protocol(name).is_none() {
                return Err(Failure::Usage(format!(
                    "no protocol `{name}` in `{}`",
                    file.display()
                )));
            }
        }
        eprintln!("verifying {} …", file.display());
        for report in comp.verify(protocol, options) {
            match report.verdict {
                choreo_lang::verify::Verdict::Safe => verified += 1,
                choreo_lang::verify::Verdict::Partial { .. } => incomplete += 1,
                choreo_lang::verify::Verdict::Violation(_) => {}
            }
            let mut text = report.render_text();
            if let Some(diagram) = report.render_mermaid() {
                text.push_str("\ncounterexample as a sequence diagram:\n");
                text.push_str(&diagram);
            }
            write_stdout(&text)?;
            if !report.is_safe() {
                failed = true;
            }
        }
    }
    // A search the state cap stopped proves nothing: the summary says
    // "verified" only for protocols whose whole state space was covered.
    let stopped = format!(
        "{incomplete} protocol(s) incomplete: the state cap stopped the search before it \
         covered every state (raise --max-states)"
    );
    match (verified, incomplete) {
        (_, 0) => eprintln!("verified {verified} protocol(s)"),
        (0, _) => eprintln!("{stopped}"),
        _ => eprintln!("{stopped}; verified {verified} other protocol(s)"),
    }
    if failed {
        Err(Failure::Rejected)
    } else {
        Ok(())
    }
}
