//! Runs the phases in order over a set of sources. Still I/O-free: modules
//! named by `use` that are not among the inputs are requested from a
//! caller-supplied loader (the CLI reads sibling files; tests use a map).

use crate::{
    check::{self, ParsedFile},
    diagnostic::{has_errors, Diagnostic},
    global::{CheckedProgram, GlobalProtocol},
    local::LocalProtocol,
    project,
    span::FileId,
    syntax,
};

/// One source text handed to the compiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// What diagnostics call this source (a path, or `<macro>`).
    pub name: String,
    /// Module name when the text has no `module` declaration: the file stem.
    pub default_module: String,
    pub text: String,
}

impl Source {
    /// A source whose default module is the stem of `name`.
    pub fn from_path_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        let name = name.into();
        let stem = std::path::Path::new(&name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("main")
            .to_string();
        Source {
            name,
            default_module: stem,
            text: text.into(),
        }
    }
}

/// The local types of one protocol.
#[derive(Clone, Debug)]
pub struct Projected {
    pub module: String,
    pub protocol: String,
    pub locals: Vec<LocalProtocol>,
}

/// Everything a compilation produced. `sources[i]` is `FileId(i)`.
#[derive(Clone, Debug, Default)]
pub struct Compilation {
    pub sources: Vec<Source>,
    pub files: Vec<ParsedFile>,
    pub program: CheckedProgram,
    /// Projections of every protocol that checked, in program order.
    pub projections: Vec<Projected>,
    /// Every diagnostic of every phase, errors and warnings, in phase then source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        has_errors(&self.diagnostics)
    }

    pub fn protocol(&self, name: &str) -> Option<&GlobalProtocol> {
        self.program.protocols().find(|p| p.name == name)
    }
}

/// Compiles `roots`, asking `load_module` for every module that a `use`
/// names and no loaded source declares. `load_module` gets the dotted
/// module path and the name of the source that uses it.
pub fn compile_with(
    roots: Vec<Source>,
    load_module: &mut dyn FnMut(&str, &str) -> Option<Source>,
) -> Compilation {
    let mut comp = Compilation::default();
    let mut queue = roots;
    let mut requested: Vec<String> = Vec::new();
    loop {
        for source in std::mem::take(&mut queue) {
            let id = FileId(u32::try_from(comp.sources.len()).unwrap_or(u32::MAX));
            let (ast, diagnostics) = syntax::parse_source(&source.text, id);
            comp.diagnostics.extend(diagnostics);
            comp.files.push(ParsedFile {
                file: id,
                default_module: source.default_module.clone(),
                ast,
            });
            comp.sources.push(source);
        }
        let declared: Vec<String> = comp.files.iter().map(module_name).collect();
        for (file, source) in comp.files.iter().zip(&comp.sources) {
            for used in &file.ast.uses {
                let name = used.path.dotted();
                if declared.contains(&name) || requested.contains(&name) {
                    continue;
                }
                requested.push(name.clone());
                if let Some(found) = load_module(&name, &source.name) {
                    queue.push(found);
                }
            }
        }
        if queue.is_empty() {
            break;
        }
    }

    let (program, diagnostics) = check::check_program(&comp.files);
    comp.diagnostics.extend(diagnostics);
    for protocol in program.protocols() {
        match project::project_protocol(&program, protocol) {
            Ok(locals) => comp.projections.push(Projected {
                module: protocol.module.clone(),
                protocol: protocol.name.clone(),
                locals,
            }),
            Err(diagnostics) => comp.diagnostics.extend(diagnostics),
        }
    }
    comp.program = program;
    comp
}

/// Compiles self-contained sources (no loader).
pub fn compile(roots: Vec<Source>) -> Compilation {
    compile_with(roots, &mut |_, _| None)
}

/// The module a parsed file declares, or its default.
pub fn module_name(file: &ParsedFile) -> String {
    file.ast
        .module
        .as_ref()
        .map(|m| m.dotted())
        .unwrap_or_else(|| file.default_module.clone())
}
