//! `@guard`, `@cost`, `@journal`, `@leak`: names and arguments (the language contract §3.9).

use super::codes;
use super::suggest::did_you_mean;
use crate::ast::{self, AnnotationArg};
use crate::diagnostic::Diagnostic;
use crate::global::{Annotation, LeakClass};
use crate::span::FileId;

const KNOWN: [&str; 4] = ["guard", "cost", "journal", "leak"];
const CLASSES: [&str; 4] = ["relationship", "group", "neighbor", "external"];

/// Checks the annotations of one message.
pub(crate) fn check(
    annotations: &[ast::Annotation],
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Annotation> {
    annotations
        .iter()
        .filter_map(|a| check_one(a, file, diags))
        .collect()
}

fn signature(name: &str) -> &'static str {
    match name {
        "guard" => "@guard(\"capability\")",
        "cost" => "@cost(n)",
        "journal" => "@journal(\"fact\")",
        _ => "@leak(class, bits)",
    }
}

fn check_one(a: &ast::Annotation, file: FileId, diags: &mut Vec<Diagnostic>) -> Option<Annotation> {
    let name = a.name.name.as_str();
    if !KNOWN.contains(&name) {
        let suggestion = did_you_mean(name, KNOWN.iter().copied());
        let d = Diagnostic::error(
            codes::UNKNOWN_ANNOTATION,
            format!("unknown annotation `@{name}`"),
            file,
            a.name.span,
            match &suggestion {
                Some(s) => format!("did you mean `@{s}`?"),
                None => "not a known annotation".to_string(),
            },
        )
        .with_hint(match suggestion {
            Some(s) => format!("write `{}`", signature(&s)),
            None => "the annotations are `@guard(\"cap\")`, `@cost(n)`, `@journal(\"fact\")` and `@leak(class, bits)`".to_string(),
        });
        diags.push(d);
        return None;
    }
    let bad = |diags: &mut Vec<Diagnostic>, span, label: String| {
        diags.push(
            Diagnostic::error(
                codes::ANNOTATION_ARGS,
                format!("wrong arguments for `@{name}`"),
                file,
                span,
                label,
            )
            .with_hint(format!("write `{}`", signature(name))),
        );
    };
    let count = |expected: usize, diags: &mut Vec<Diagnostic>| {
        if a.args.len() == expected {
            true
        } else {
            bad(
                diags,
                a.span,
                format!(
                    "`@{name}` takes {expected} argument{}, found {}",
                    if expected == 1 { "" } else { "s" },
                    a.args.len()
                ),
            );
            false
        }
    };
    match name {
        "guard" | "journal" => {
            if !count(1, diags) {
                return None;
            }
            match a.args.first() {
                Some(AnnotationArg::Str { value, .. }) => Some(if name == "guard" {
                    Annotation::Guard {
                        capability: value.clone(),
                    }
                } else {
                    Annotation::Journal {
                        fact: value.clone(),
                    }
                }),
                Some(other) => {
                    bad(
                        diags,
                        arg_span(other),
                        format!("expected a string, found {}", describe(other)),
                    );
                    None
                }
                None => None,
            }
        }
        "cost" => {
            if !count(1, diags) {
                return None;
            }
            match a.args.first() {
                Some(AnnotationArg::Int { value, .. }) => Some(Annotation::Cost { amount: *value }),
                Some(other) => {
                    bad(
                        diags,
                        arg_span(other),
                        format!("expected a non-negative integer, found {}", describe(other)),
                    );
                    None
                }
                None => None,
            }
        }
        _ => {
            if !count(2, diags) {
                return None;
            }
            let class = match a.args.first() {
                Some(AnnotationArg::Ident(id)) => match id.name.as_str() {
                    "relationship" => Some(LeakClass::Relationship),
                    "group" => Some(LeakClass::Group),
                    "neighbor" => Some(LeakClass::Neighbor),
                    "external" => Some(LeakClass::External),
                    other => {
                        let suggestion = did_you_mean(other, CLASSES.iter().copied());
                        bad(
                            diags,
                            id.span,
                            match suggestion {
                                Some(s) => format!(
                                    "unknown observer class `{other}`; did you mean `{s}`?"
                                ),
                                None => format!(
                                    "unknown observer class `{other}`: expected relationship, group, neighbor or external"
                                ),
                            },
                        );
                        None
                    }
                },
                Some(other) => {
                    bad(
                        diags,
                        arg_span(other),
                        format!(
                            "expected an observer class (relationship, group, neighbor or external), found {}",
                            describe(other)
                        ),
                    );
                    None
                }
                None => None,
            };
            let bits = match a.args.get(1) {
                Some(AnnotationArg::Int { value, .. }) => Some(*value),
                Some(other) => {
                    bad(
                        diags,
                        arg_span(other),
                        format!("expected a number of bits, found {}", describe(other)),
                    );
                    None
                }
                None => None,
            };
            Some(Annotation::Leak {
                class: class?,
                bits: bits?,
            })
        }
    }
}

fn arg_span(arg: &AnnotationArg) -> crate::span::Span {
    match arg {
        AnnotationArg::Str { span, .. } | AnnotationArg::Int { span, .. } => *span,
        AnnotationArg::Ident(id) => id.span,
    }
}

fn describe(arg: &AnnotationArg) -> String {
    match arg {
        AnnotationArg::Str { value, .. } => format!("the string \"{value}\""),
        AnnotationArg::Int { value, .. } => format!("the integer {value}"),
        AnnotationArg::Ident(id) => format!("the name `{}`", id.name),
    }
}
