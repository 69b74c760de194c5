//! The module table: which protocols and aliases each module declares,
//! which modules each file uses, protocol name resolution, and the call
//! graph (cycles, lowering order).

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};

use super::codes;
use super::lower::Lowered;
use super::suggest::{did_you_mean, suffix};
use super::types::{self, AliasTypes};
use super::ParsedFile;
use crate::ast::{self, Item, ModulePath, StmtKind};
use crate::diagnostic::Diagnostic;
use crate::global;
use crate::span::{FileId, Span};

pub(crate) struct Module {
    pub name: String,
    pub file: FileId,
    /// Expanded alias types by alias name.
    pub alias_types: AliasTypes,
    pub aliases: Vec<global::Alias>,
    /// Aliases on a cycle (already reported); payloads using them fail.
    pub bad_aliases: HashSet<String>,
    /// Protocol ids by name (first declaration wins).
    pub protocols: HashMap<String, usize>,
}

pub(crate) struct Proto<'a> {
    pub module: usize,
    pub file: FileId,
    pub file_index: usize,
    pub ast: &'a ast::Protocol,
    /// A second declaration of a name already taken in its module.
    pub duplicate: bool,
}

pub(crate) struct Program<'a> {
    pub modules: Vec<Module>,
    pub protos: Vec<Proto<'a>>,
    /// Per file (same order as the input): its module and used modules.
    file_modules: Vec<usize>,
    file_uses: Vec<Vec<usize>>,
    files: Vec<FileId>,
}

/// A resolution failure, already turned into a diagnostic.
pub(crate) type Resolved = Result<usize, Box<Diagnostic>>;

impl<'a> Program<'a> {
    pub fn build(files: &'a [ParsedFile], diags: &mut Vec<Diagnostic>) -> Program<'a> {
        let mut modules: Vec<Module> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut file_modules = Vec::new();
        for file in files {
            let name = file
                .ast
                .module
                .as_ref()
                .map(ModulePath::dotted)
                .unwrap_or_else(|| file.default_module.clone());
            let index = *by_name.entry(name.clone()).or_insert_with(|| {
                modules.push(Module {
                    name,
                    file: file.file,
                    alias_types: AliasTypes::new(),
                    aliases: Vec::new(),
                    bad_aliases: HashSet::new(),
                    protocols: HashMap::new(),
                });
                modules.len() - 1
            });
            file_modules.push(index);
        }

        // `use` declarations.
        let mut file_uses = Vec::new();
        for file in files {
            let mut used = Vec::new();
            for u in &file.ast.uses {
                let name = u.path.dotted();
                match by_name.get(&name) {
                    Some(&m) => used.push(m),
                    None => {
                        let suggestion =
                            did_you_mean(&name, modules.iter().map(|m| m.name.as_str()));
                        let mut d = Diagnostic::error(
                            codes::UNKNOWN_MODULE,
                            format!("unknown module `{name}`"),
                            file.file,
                            u.path.span,
                            format!(
                                "no input file declares module `{name}`{}",
                                suffix(suggestion.as_deref())
                            ),
                        );
                        d = d.with_hint(match suggestion {
                            Some(s) => format!("write `use {s};`"),
                            None => format!(
                                "add a file `{}.choreo` next to this one, or a file that declares `module {name};`",
                                name.rsplit('.').next().unwrap_or(&name)
                            ),
                        });
                        diags.push(d);
                    }
                }
            }
            file_uses.push(used);
        }

        // Protocols and aliases.
        let mut protos: Vec<Proto<'a>> = Vec::new();
        let mut alias_decls: Vec<Vec<(&'a ast::TypeAlias, FileId)>> =
            modules.iter().map(|_| Vec::new()).collect();
        for (file_index, file) in files.iter().enumerate() {
            let module = file_modules.get(file_index).copied().unwrap_or(0);
            for item in &file.ast.items {
                match item {
                    Item::Protocol(p) => {
                        let id = protos.len();
                        let mut duplicate = false;
                        if let Some(m) = modules.get_mut(module) {
                            if let Some(&first) = m.protocols.get(p.name.name.as_str()) {
                                duplicate = true;
                                let mut d = Diagnostic::error(
                                    codes::DUPLICATE_PROTOCOL,
                                    format!(
                                        "protocol `{}` is declared twice in module `{}`",
                                        p.name.name, m.name
                                    ),
                                    file.file,
                                    p.name.span,
                                    "second declaration",
                                );
                                if let Some(f) = protos.get(first) {
                                    d = d.with_secondary(
                                        f.file,
                                        f.ast.name.span,
                                        "first declared here",
                                    );
                                }
                                diags.push(d.with_hint(
                                    "protocol names are unique in a module: rename one of them",
                                ));
                            } else {
                                m.protocols.insert(String::from(p.name.name.as_str()), id);
                            }
                        }
                        protos.push(Proto {
                            module,
                            file: file.file,
                            file_index,
                            ast: p,
                            duplicate,
                        });
                    }
                    Item::TypeAlias(a) => {
                        if let Some(list) = alias_decls.get_mut(module) {
                            list.push((a, file.file));
                        }
                    }
                    Item::Error(_) => {}
                }
            }
        }
        for (module, decls) in modules.iter_mut().zip(alias_decls) {
            expand_aliases(module, &decls, diags);
        }
        Program {
            modules,
            protos,
            file_modules,
            file_uses,
            files: files.iter().map(|f| f.file).collect(),
        }
    }

    pub fn module_of_file(&self, file_index: usize) -> Option<&Module> {
        self.file_modules
            .get(file_index)
            .and_then(|&m| self.modules.get(m))
    }

    /// Resolves `Sub` or `a.b.Sub` as seen from a file.
    pub fn resolve(&self, file_index: usize, path: &ModulePath) -> Resolved {
        let file = self.files.get(file_index).copied().unwrap_or_default();
        let Some((last, prefix)) = path.segments.split_last() else {
            return Err(Box::new(Diagnostic::error(
                codes::UNKNOWN_PROTOCOL,
                "missing protocol name",
                file,
                path.span,
                "expected a protocol name",
            )));
        };
        let name = last.name.as_str();
        if !prefix.is_empty() {
            let module_name = prefix
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(".");
            let Some(module) = self.modules.iter().find(|m| m.name == module_name) else {
                let suggestion =
                    did_you_mean(&module_name, self.modules.iter().map(|m| m.name.as_str()));
                return Err(Box::new(
                    Diagnostic::error(
                        codes::UNKNOWN_PROTOCOL,
                        format!("unknown protocol `{}`", path.dotted()),
                        file,
                        path.span,
                        format!("there is no module `{module_name}`"),
                    )
                    .with_hint(match suggestion {
                        Some(m) => format!("did you mean `{m}.{name}`?"),
                        None => format!(
                            "add the file that declares `module {module_name};` next to this one"
                        ),
                    }),
                ));
            };
            return match module.protocols.get(name) {
                Some(&id) => Ok(id),
                None => {
                    let suggestion =
                        did_you_mean(name, module.protocols.keys().map(String::as_str));
                    Err(Box::new(self.unknown_protocol(
                        file,
                        path,
                        &format!("module `{module_name}` has no protocol `{name}`"),
                        suggestion.map(|s| format!("{module_name}.{s}")),
                    )))
                }
            };
        }
        let own = self.file_modules.get(file_index).copied();
        if let Some(&id) = own
            .and_then(|m| self.modules.get(m))
            .and_then(|m| m.protocols.get(name))
        {
            return Ok(id);
        }
        let used = self
            .file_uses
            .get(file_index)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut found: Vec<(usize, usize)> = Vec::new();
        for &m in used {
            if let Some(&id) = self.modules.get(m).and_then(|md| md.protocols.get(name)) {
                if !found.iter().any(|(_, i)| *i == id) {
                    found.push((m, id));
                }
            }
        }
        match found.as_slice() {
            [(_, id)] => Ok(*id),
            [] => {
                let visible = own
                    .into_iter()
                    .chain(used.iter().copied())
                    .filter_map(|m| self.modules.get(m))
                    .flat_map(|m| m.protocols.keys().map(String::as_str));
                let suggestion = did_you_mean(name, visible);
                // A protocol of that name in a module that is not `use`d?
                let elsewhere = self
                    .modules
                    .iter()
                    .find(|m| m.protocols.contains_key(name))
                    .map(|m| m.name.clone());
                let mut d = self.unknown_protocol(
                    file,
                    path,
                    &format!("no protocol `{name}` in this module or the modules it uses"),
                    suggestion,
                );
                if let Some(m) = elsewhere {
                    d = d.with_hint(format!(
                        "module `{m}` declares `{name}`: add `use {m};` or write `{m}.{name}`"
                    ));
                }
                Err(Box::new(d))
            }
            several => {
                let names: Vec<String> = several
                    .iter()
                    .filter_map(|(m, _)| self.modules.get(*m))
                    .map(|m| format!("`{}.{name}`", m.name))
                    .collect();
                let mut d = Diagnostic::error(
                    codes::AMBIGUOUS_PROTOCOL,
                    format!("protocol name `{name}` is ambiguous"),
                    file,
                    path.span,
                    format!("declared in several used modules: {}", names.join(", ")),
                )
                .with_hint(format!(
                    "qualify the name, e.g. {}",
                    names.first().cloned().unwrap_or_default()
                ));
                for (_, id) in several {
                    if let Some(p) = self.protos.get(*id) {
                        d = d.with_secondary(p.file, p.ast.name.span, "declared here");
                    }
                }
                Err(Box::new(d))
            }
        }
    }

    fn unknown_protocol(
        &self,
        file: FileId,
        path: &ModulePath,
        label: &str,
        suggestion: Option<String>,
    ) -> Diagnostic {
        let d = Diagnostic::error(
            codes::UNKNOWN_PROTOCOL,
            format!("unknown protocol `{}`", path.dotted()),
            file,
            path.span,
            label,
        );
        match suggestion {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(
                "declare the protocol, or `use` the module that declares it (qualified names `a.b.Sub` always work)",
            ),
        }
    }

    /// Protocol ids in an order where every callee comes before its
    /// callers; then the protocols on or above a `call` cycle (reported
    /// here), which will be left out of the program.
    pub fn lowering_order(&self, diags: &mut Vec<Diagnostic>) -> Vec<usize> {
        let mut graph: DiGraph<usize, Span> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..self.protos.len()).map(|i| graph.add_node(i)).collect();
        for (id, proto) in self.protos.iter().enumerate() {
            let mut calls = Vec::new();
            collect_calls(&proto.ast.body, &mut calls);
            for (path, span) in calls {
                if let Ok(target) = self.resolve(proto.file_index, path) {
                    if let (Some(&a), Some(&b)) = (nodes.get(id), nodes.get(target)) {
                        graph.add_edge(a, b, span);
                    }
                }
            }
        }
        self.report_cycles(&graph, diags);

        // Kahn's algorithm on "callee before caller".
        let mut pending: Vec<usize> = graph
            .node_indices()
            .map(|n| graph.neighbors(n).collect::<HashSet<_>>().len())
            .collect();
        let mut queue: VecDeque<NodeIndex> = graph
            .node_indices()
            .filter(|n| pending.get(n.index()).copied() == Some(0))
            .collect();
        let mut order = Vec::new();
        let mut done = vec![false; self.protos.len()];
        while let Some(n) = queue.pop_front() {
            order.push(n.index());
            if let Some(d) = done.get_mut(n.index()) {
                *d = true;
            }
            let callers: HashSet<NodeIndex> = graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .collect();
            for caller in callers {
                if let Some(p) = pending.get_mut(caller.index()) {
                    *p = p.saturating_sub(1);
                    if *p == 0 && caller != n {
                        queue.push_back(caller);
                    }
                }
            }
        }
        order.extend((0..self.protos.len()).filter(|&i| !done.get(i).copied().unwrap_or(true)));
        order
    }

    fn report_cycles(&self, graph: &DiGraph<usize, Span>, diags: &mut Vec<Diagnostic>) {
        for scc in petgraph::algo::kosaraju_scc(graph) {
            let self_loop = match scc.as_slice() {
                [only] => graph.find_edge(*only, *only).is_some(),
                _ => false,
            };
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members: HashSet<NodeIndex> = scc.iter().copied().collect();
            let Some(&start) = scc.iter().min_by_key(|n| n.index()) else {
                continue;
            };
            // Shortest path start -> … -> start inside the component.
            let mut previous: HashMap<NodeIndex, (NodeIndex, Span)> = HashMap::new();
            let mut queue = VecDeque::from([start]);
            let mut closing: Option<(NodeIndex, Span)> = None;
            'search: while let Some(n) = queue.pop_front() {
                for edge in graph.edges(n) {
                    use petgraph::visit::EdgeRef;
                    let target = edge.target();
                    if target == start {
                        closing = Some((n, *edge.weight()));
                        break 'search;
                    }
                    if members.contains(&target) && !previous.contains_key(&target) {
                        previous.insert(target, (n, *edge.weight()));
                        queue.push_back(target);
                    }
                }
            }
            let Some((last, last_span)) = closing else {
                continue;
            };
            // Edges in order: start -> … -> last -> start.
            let mut edges: Vec<(NodeIndex, Span)> = vec![(last, last_span)];
            let mut at = last;
            while at != start {
                let Some(&(prev, span)) = previous.get(&at) else {
                    break;
                };
                edges.push((prev, span));
                at = prev;
            }
            edges.reverse();
            let name = |n: NodeIndex| {
                self.protos
                    .get(n.index())
                    .map(|p| p.ast.name.name.clone())
                    .unwrap_or_default()
            };
            let mut path: Vec<String> = edges
                .iter()
                .map(|(n, _)| format!("`{}`", name(*n)))
                .collect();
            path.push(format!("`{}`", name(start)));
            let Some(&(first_node, first_span)) = edges.first() else {
                continue;
            };
            let file_of = |n: NodeIndex| {
                self.protos
                    .get(n.index())
                    .map(|p| p.file)
                    .unwrap_or_default()
            };
            let callee_of = |i: usize| edges.get(i + 1).map(|(n, _)| *n).unwrap_or(start);
            let mut d = Diagnostic::error(
                codes::CALL_CYCLE,
                format!("`call` cycle: {}", path.join(" → ")),
                file_of(first_node),
                first_span,
                format!("`{}` calls `{}` here", name(first_node), name(callee_of(0))),
            );
            for (i, (n, span)) in edges.iter().enumerate().skip(1) {
                d = d.with_secondary(
                    file_of(*n),
                    *span,
                    format!("`{}` calls `{}` here", name(*n), name(callee_of(i))),
                );
            }
            diags.push(d.with_hint(
                "`call` inlines its target, so a cycle never ends: repeat with `rec`/`continue`, or hand over with `link`",
            ));
        }
    }

    /// The checked program: every module in input order with the protocols
    /// that passed, and apart the protocols whose errors were all recovered
    /// in place (for projection's diagnostics only).
    pub fn output(&self, results: Vec<Option<Lowered>>) -> global::CheckedProgram {
        let mut recovered = Vec::new();
        let mut modules: Vec<global::CheckedModule> = self
            .modules
            .iter()
            .map(|m| global::CheckedModule {
                name: m.name.clone(),
                file: m.file,
                aliases: m.aliases.clone(),
                protocols: Vec::new(),
            })
            .collect();
        for (proto, result) in self.protos.iter().zip(results) {
            let Some(lowered) = result else { continue };
            if proto.duplicate {
                continue;
            }
            if !lowered.ok {
                if lowered.faithful {
                    recovered.extend(lowered.protocol);
                }
                continue;
            }
            if let (Some(module), Some(protocol)) =
                (modules.get_mut(proto.module), lowered.protocol)
            {
                module.protocols.push(protocol);
            }
        }
        global::CheckedProgram { modules, recovered }
    }
}

/// Every `call` in a block, with the span of its statement.
fn collect_calls<'b>(block: &'b ast::Block, out: &mut Vec<(&'b ModulePath, Span)>) {
    for stmt in &block.stmts {
        match &stmt.kind {
            StmtKind::Call(inv) => out.push((&inv.protocol, stmt.span)),
            StmtKind::Choice { branches, .. } => {
                branches.iter().for_each(|b| collect_calls(&b.body, out))
            }
            StmtKind::Rec { body, .. } | StmtKind::For { body, .. } => collect_calls(body, out),
            StmtKind::Par { branches } => branches.iter().for_each(|b| collect_calls(b, out)),
            StmtKind::Timeout { body, handler, .. } => {
                collect_calls(body, out);
                collect_calls(handler, out);
            }
            StmtKind::Message(_)
            | StmtKind::Continue { .. }
            | StmtKind::Link(_)
            | StmtKind::Delegate { .. }
            | StmtKind::Error => {}
        }
    }
}

/// Expands the aliases of one module (reporting duplicates and cycles).
fn expand_aliases(
    module: &mut Module,
    decls: &[(&ast::TypeAlias, FileId)],
    diags: &mut Vec<Diagnostic>,
) {
    let mut first: HashMap<&str, (&ast::TypeAlias, FileId)> = HashMap::new();
    let mut order: Vec<(&ast::TypeAlias, FileId)> = Vec::new();
    for &(alias, file) in decls {
        if let Some((prev, prev_file)) = first.get(alias.name.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_ALIAS,
                    format!(
                        "payload alias `{}` is declared twice in module `{}`",
                        alias.name.name, module.name
                    ),
                    file,
                    alias.name.span,
                    "second declaration",
                )
                .with_secondary(*prev_file, prev.name.span, "first declared here")
                .with_hint("remove or rename one of them"),
            );
            continue;
        }
        first.insert(alias.name.name.as_str(), (alias, file));
        order.push((alias, file));
    }
    // Resolve in dependency order: an alias expands once every alias it
    // mentions has expanded. What never resolves is on a cycle.
    let mut pending: Vec<(&ast::TypeAlias, FileId)> = order.clone();
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for (alias, file) in pending {
            let mut mentioned = Vec::new();
            types::mentioned_names(&alias.ty, &mut mentioned);
            let ready = mentioned
                .iter()
                .all(|n| !first.contains_key(n) || module.alias_types.contains_key(*n));
            if ready {
                let loc = global::Loc {
                    file,
                    span: alias.ty.span,
                };
                let ty = types::canonical(&alias.ty, &module.alias_types, file)
                    .unwrap_or_else(|| global::RustType::named("_", loc));
                module
                    .alias_types
                    .insert(String::from(alias.name.name.as_str()), ty);
            } else {
                still.push((alias, file));
            }
        }
        pending = still;
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for (alias, file) in &pending {
        let others: Vec<String> = pending
            .iter()
            .filter(|(a, _)| a.name.name != alias.name.name)
            .map(|(a, _)| format!("`{}`", a.name.name))
            .collect();
        let label = if others.is_empty() {
            "this alias refers to itself".to_string()
        } else {
            format!("expands through {}", others.join(", "))
        };
        diags.push(
            Diagnostic::error(
                codes::ALIAS_CYCLE,
                format!(
                    "payload alias `{}` never expands to a type",
                    alias.name.name
                ),
                *file,
                alias.name.span,
                label,
            )
            .with_hint("make one alias of the cycle a concrete Rust type"),
        );
        module
            .bad_aliases
            .insert(String::from(alias.name.name.as_str()));
    }
    module.aliases = order
        .iter()
        .map(|(alias, _)| global::Alias {
            name: String::from(alias.name.name.as_str()),
            ty: types::written(&alias.ty).unwrap_or_else(|| "_".to_string()),
            docs: alias.leading.docs.clone(),
        })
        .collect();
}
