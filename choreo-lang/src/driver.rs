//! Runs the phases in order over a set of sources. Still I/O-free: modules
//! named by `use` that are not among the inputs are requested from a
//! caller-supplied loader (the CLI reads sibling files; tests use a map).

use crate::{
    ast,
    check::{self, ParsedFile},
    codegen,
    diagnostic::{has_errors, Diagnostic},
    global::ProtocolId,
    global::{CheckedProgram, GlobalProtocol},
    machine, project,
    span::FileId,
    syntax, verify,
};

/// One source text handed to the compiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// What diagnostics call this source (a path, or `<macro>`).
    pub name: String,
    /// Module name when the text has no `module` declaration: the file stem.
    pub default_module: String,
    /// The text (for `choreography! { … }`, its tokens laid out as text).
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

pub use crate::local::Projected;

/// Everything a compilation produced. `sources[i]` is `FileId(i)`.
#[derive(Clone, Debug, Default)]
pub struct Compilation {
    pub sources: Vec<Source>,
    pub files: Vec<ParsedFile>,
    pub program: CheckedProgram,
    /// Projections of every protocol that checked, in id order (a protocol
    /// that did not project has none).
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

    /// The local types of protocol `id`, if it projected.
    pub fn projection(&self, id: ProtocolId) -> Option<&Projected> {
        crate::local::projection(&self.projections, id)
    }

    /// The machine phase of every checked protocol, in id order
    /// ([`machine::build_program`]): what code generation reads.
    pub fn machines(&self) -> Vec<machine::ProtocolMachines> {
        machine::build_program(&self.program, &self.projections)
    }

    /// The generated tokens of every protocol declared in `files`
    /// ([`codegen::generate_tokens`], from [`Compilation::machines`]); any
    /// error of the compilation means no code, and those errors are
    /// returned.
    pub fn generate_tokens(
        &self,
        files: &[FileId],
    ) -> Result<proc_macro2::TokenStream, Vec<Diagnostic>> {
        self.errors_or(|| codegen::generate_tokens(&self.machines(), files))
    }

    /// The pretty-printed Rust of every protocol declared in the first
    /// source ([`codegen::generate_program`]), or the compilation's errors.
    pub fn generate_program(&self) -> Result<String, Vec<Diagnostic>> {
        self.errors_or(|| codegen::generate_program(&self.machines()))
    }

    /// Model-checks the protocols of the first source that projected
    /// ([`verify::verify_projections`]); `protocol` narrows it to one name.
    pub fn verify(
        &self,
        protocol: Option<&str>,
        options: &verify::VerifyOptions,
    ) -> Vec<verify::VerifyReport> {
        verify::verify_projections(&self.program, &self.projections, protocol, options)
    }

    fn errors_or<T>(
        &self,
        then: impl FnOnce() -> Result<T, Vec<Diagnostic>>,
    ) -> Result<T, Vec<Diagnostic>> {
        if self.has_errors() {
            return Err(self
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect());
        }
        then()
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
    for source in roots {
        comp.add_text(source);
    }
    comp.finish(load_module)
}

/// Compiles the body of one `choreography! { … }` invocation, lexed by
/// [`syntax::parse_token_stream`]: `FileId(0)`'s text is the tokens laid
/// out as text, and the returned map takes a diagnostic's span back to the
/// tokens it covers.
pub fn compile_token_stream(
    name: &str,
    tokens: proc_macro2::TokenStream,
) -> (Compilation, syntax::token_stream::TokenMap) {
    let mut comp = Compilation::default();
    let (ast, diagnostics, map) = syntax::parse_token_stream(tokens, FileId(0));
    comp.add_parsed(
        Source {
            name: name.to_string(),
            default_module: "main".into(),
            text: map.text.clone(),
        },
        ast,
        diagnostics,
    );
    (comp.finish(&mut |_, _| None), map)
}

/// Finds a used module beside the file that uses it, the one lookup rule
/// of both the `choreo` command and `choreography!(file = …)`: for
/// `use a.b.c;` in `dir/user.choreo`, `dir/c.choreo`, then
/// `dir/a/b/c.choreo`. `read` does the I/O (the library does none): it
/// returns a candidate path's text, or `None` when there is no such file.
pub fn load_beside(
    module: &str,
    user: &str,
    read: &mut dyn FnMut(&std::path::Path) -> Option<String>,
) -> Option<Source> {
    let dir = std::path::Path::new(user)
        .parent()
        .unwrap_or_else(|| std::path::Path::new(""));
    let segments: Vec<&str> = module.split('.').collect();
    let stem = segments.last().copied().unwrap_or(module);
    let candidates = [
        dir.join(format!("{stem}.choreo")),
        dir.join(format!("{}.choreo", segments.join("/"))),
    ];
    candidates.iter().find_map(|candidate| {
        let text = read(candidate)?;
        Some(Source::from_path_text(
            candidate.display().to_string(),
            text,
        ))
    })
}

impl Compilation {
    fn next_file(&self) -> FileId {
        FileId(u32::try_from(self.sources.len()).unwrap_or(u32::MAX))
    }

    fn add_text(&mut self, source: Source) {
        let (ast, diagnostics) = syntax::parse_source(&source.text, self.next_file());
        self.add_parsed(source, ast, diagnostics);
    }

    fn add_parsed(&mut self, source: Source, ast: ast::File, diagnostics: Vec<Diagnostic>) {
        let file = self.next_file();
        self.diagnostics.extend(diagnostics);
        self.files.push(ParsedFile {
            file,
            default_module: source.default_module.clone(),
            ast,
        });
        self.sources.push(source);
    }

    /// Loads every used module not yet present, then checks and projects.
    fn finish(mut self, load_module: &mut dyn FnMut(&str, &str) -> Option<Source>) -> Self {
        let mut requested: Vec<String> = Vec::new();
        loop {
            let declared: Vec<String> = self.files.iter().map(module_name).collect();
            let mut queue = Vec::new();
            for (file, source) in self.files.iter().zip(&self.sources) {
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
            for source in queue {
                self.add_text(source);
            }
        }

        let (program, diagnostics) = check::check_program(&self.files);
        self.diagnostics.extend(diagnostics);
        for (id, protocol) in program.with_ids() {
            match project::project_protocol(&program, protocol) {
                Ok(locals) => self.projections.push(Projected {
                    id,
                    module: protocol.module.clone(),
                    protocol: protocol.name.clone(),
                    locals,
                }),
                Err(diagnostics) => self.diagnostics.extend(diagnostics),
            }
        }
        // One run reports every error it can: a protocol whose check errors
        // were recovered still gets projection's verdict (and no code).
        for protocol in &program.recovered {
            if let Err(diagnostics) = project::project_protocol(&program, protocol) {
                self.diagnostics.extend(diagnostics);
            }
        }
        self.program = program;
        self
    }
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
