//! The fast path of the token parser: a recursive-descent parser for
//! well-formed input, with no error reporting and no recovery.
//!
//! It follows the grammar of [`super::parser`] combinator by combinator
//! (ordered choice with backtracking, the same separator and trailing-comma
//! rules, the same spans), so on any input it accepts it builds exactly the
//! AST the chumsky parser builds, and that parser would report nothing. On
//! anything else — a syntax error, a mistake the chumsky parser repairs and
//! reports, a keyword used as a name — it gives up and the chumsky parser
//! parses the input from the start, so every diagnostic comes from one
//! place. Most input is well formed, and this path is several times faster
//! than the combinators (no expected-token sets, no recovery bookkeeping).
//!
//! The tests (`syntax::tests::fast_path`) parse every test input and random
//! mutations of it both ways and compare.

use super::parser::args_text;
use super::token::{Keyword, Token};
use crate::ast::{
    Annotation, AnnotationArg, Block, ChoiceBranch, DurationLit, File, Ident, Invocation, Item,
    Layout, Leading, Message, ModulePath, Protocol, RoleDecl, RoleIndex, RoleRef, Size, Stmt,
    StmtKind, TypeAlias, TypeExpr, TypeKind, TypeSegment, Use,
};
use crate::span::Span;

/// Parses significant tokens (no trivia), or `None` when the input is not
/// well formed (or not in the form this path reads).
pub(crate) fn parse(tokens: &[(Token, Span)]) -> Option<File> {
    let mut p = Fast {
        tokens,
        pos: 0,
        blocks: block_capacities(tokens),
    };
    let file = p.file()?;
    (p.pos == tokens.len()).then_some(file)
}

struct Fast<'t> {
    tokens: &'t [(Token, Span)],
    pos: usize,
    /// Each `{`'s position with room for the statements of its block
    /// ([`block_capacities`]), in token order.
    blocks: Vec<(usize, usize)>,
}

/// For every `{` (by position), how many statements its block can hold:
/// every statement ends with a `;` or a nested block's `}` directly inside
/// it, and takes three tokens at least (`continue L;`). A statement vector
/// sized by it is never regrown, which for a long protocol would copy
/// megabytes of statements a dozen times; the cap by token count keeps a
/// hostile run of `;` from reserving more than a few times the tokens'
/// own memory. One pass, with a stack of open braces, so deep nesting
/// stays linear.
fn block_capacities(tokens: &[(Token, Span)]) -> Vec<(usize, usize)> {
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let ends_inside = |open: &[usize], blocks: &mut Vec<(usize, usize)>| {
        if let Some(slot) = open.last().and_then(|&b| blocks.get_mut(b)) {
            slot.1 += 1;
        }
    };
    for (i, (token, _)) in tokens.iter().enumerate() {
        match token {
            Token::LBrace => {
                open.push(blocks.len());
                blocks.push((i, 0));
            }
            Token::RBrace => {
                if let Some(slot) = open.pop().and_then(|b| blocks.get_mut(b)) {
                    let inside = i.saturating_sub(slot.0 + 1);
                    slot.1 = slot.1.min(inside / 3);
                }
                ends_inside(&open, &mut blocks);
            }
            Token::Semi => ends_inside(&open, &mut blocks),
            _ => {}
        }
    }
    // An unclosed block's statements end the parse anyway.
    blocks
}

/// One parser step: `None` means "does not match here" (the caller
/// restores the position).
type P<T> = Option<T>;

impl<'t> Fast<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn span_at(&self, i: usize) -> Span {
        self.tokens.get(i).map(|(_, s)| *s).unwrap_or_default()
    }

    /// The span from the token at `start` to the last token consumed.
    fn since(&self, start: usize) -> Span {
        let first = self.span_at(start);
        let last = self.span_at(self.pos.saturating_sub(1).max(start));
        Span {
            start: first.start,
            end: last.end,
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token) -> P<()> {
        self.eat(token).then_some(())
    }

    fn kw(&mut self, k: Keyword) -> P<()> {
        self.expect(&Token::Kw(k))
    }

    /// Runs `f`; on failure puts the position back.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        let start = self.pos;
        let out = f(self);
        if out.is_none() {
            self.pos = start;
        }
        out
    }

    /// `item (sep item)*` with chumsky's `separated_by` rules: a separator
    /// followed by no item is left unconsumed unless `trailing` allows it.
    fn separated<T>(
        &mut self,
        sep: &Token,
        trailing: bool,
        at_least: usize,
        mut item: impl FnMut(&mut Self) -> P<T>,
    ) -> P<Vec<T>> {
        // Most lists in a protocol have one item (a type path's segments):
        // room for exactly one, not the four a first push would reserve.
        let mut out = Vec::with_capacity(1);
        loop {
            let before_sep = self.pos;
            if !out.is_empty() && !self.eat(sep) {
                break;
            }
            match self.attempt(&mut item) {
                Some(x) => out.push(x),
                None => {
                    if out.len() < at_least {
                        self.pos = before_sep;
                        return None;
                    }
                    if !trailing {
                        self.pos = before_sep;
                    }
                    break;
                }
            }
        }
        Some(out)
    }

    fn word(&mut self) -> P<Ident> {
        let (Token::Ident(name), span) = self.tokens.get(self.pos)? else {
            return None;
        };
        self.pos += 1;
        Some(Ident {
            name: name.clone().into(),
            span: *span,
        })
    }

    /// The contextual words of type syntax (`mut`, `const`, `fn`, `dyn`, `as`).
    fn contextual(&mut self, word: &str) -> P<()> {
        match self.peek() {
            Some(Token::Ident(s)) if &**s == word => {
                self.pos += 1;
                Some(())
            }
            _ => None,
        }
    }

    fn int(&mut self) -> P<u64> {
        let Some(Token::Int(v)) = self.peek() else {
            return None;
        };
        self.pos += 1;
        Some(*v)
    }

    fn size(&mut self) -> P<Size> {
        let start = self.pos;
        match self.peek()? {
            Token::Int(value) => {
                let value = *value;
                self.pos += 1;
                Some(Size::Literal {
                    value,
                    span: self.span_at(start),
                })
            }
            Token::Ident(_) => self.word().map(Size::Param),
            _ => None,
        }
    }

    fn module_path(&mut self) -> P<ModulePath> {
        let start = self.pos;
        let segments = self.separated(&Token::Dot, false, 1, Self::word)?;
        Some(ModulePath {
            segments,
            span: self.since(start),
        })
    }

    fn role_ref(&mut self) -> P<RoleRef> {
        let start = self.pos;
        let role = self.word()?;
        let index = self.attempt(|p| {
            p.expect(&Token::LBracket)?;
            let index = p.role_index()?;
            p.expect(&Token::RBracket)?;
            Some(index)
        });
        Some(RoleRef {
            role,
            index,
            span: self.since(start),
        })
    }

    fn role_index(&mut self) -> P<RoleIndex> {
        let start = self.pos;
        match self.peek()? {
            Token::Star => {
                self.pos += 1;
                Some(RoleIndex::All {
                    span: self.span_at(start),
                })
            }
            Token::Int(value) => {
                let value = *value;
                self.pos += 1;
                Some(RoleIndex::Literal {
                    value,
                    span: self.span_at(start),
                })
            }
            Token::Ident(_) => {
                let var = self.word()?;
                let offset = self.attempt(|p| {
                    let sign = if p.eat(&Token::Plus) {
                        1i64
                    } else if p.eat(&Token::Minus) {
                        -1i64
                    } else {
                        return None;
                    };
                    let v = p.int()?;
                    Some(sign.saturating_mul(i64::try_from(v).unwrap_or(i64::MAX)))
                });
                Some(RoleIndex::Var {
                    var,
                    offset: offset.unwrap_or(0),
                    span: self.since(start),
                })
            }
            _ => None,
        }
    }

    // -----------------------------------------------------------------------
    // Types (the alternatives in the chumsky parser's order)

    fn type_expr(&mut self) -> P<TypeExpr> {
        self.attempt(Self::fn_ptr)
            .or_else(|| self.attempt(Self::trait_object))
            .or_else(|| self.attempt(Self::type_path))
            .or_else(|| self.attempt(Self::tuple))
            .or_else(|| self.attempt(Self::array))
            .or_else(|| self.attempt(Self::reference))
            .or_else(|| self.attempt(Self::pointer))
            .or_else(|| self.attempt(Self::never))
            .or_else(|| self.attempt(Self::qualified))
    }

    fn types_in(&mut self, open: &Token, close: &Token) -> P<Vec<TypeExpr>> {
        self.expect(open)?;
        let items = self.separated(&Token::Comma, true, 0, Self::type_expr)?;
        self.expect(close)?;
        Some(items)
    }

    fn segment(&mut self) -> P<TypeSegment> {
        let name = self.word()?;
        let generics = self.attempt(|p| p.types_in(&Token::Lt, &Token::Gt));
        Some(TypeSegment {
            name,
            generics: generics.unwrap_or_default(),
        })
    }

    fn type_path(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        let leading_colons = self.eat(&Token::PathSep);
        let segments = self.separated(&Token::PathSep, false, 1, Self::segment)?;
        Some(TypeExpr {
            kind: TypeKind::Path {
                leading_colons,
                segments,
            },
            span: self.since(start),
        })
    }

    fn tuple(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.expect(&Token::LParen)?;
        let mut items = self.separated(&Token::Comma, false, 0, Self::type_expr)?;
        let trailing = self.eat(&Token::Comma);
        self.expect(&Token::RParen)?;
        if items.len() == 1 && !trailing {
            // `(T)` is `T`, as in Rust.
            return items.pop();
        }
        Some(TypeExpr {
            kind: TypeKind::Tuple(items),
            span: self.since(start),
        })
    }

    fn array(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.expect(&Token::LBracket)?;
        let element = self.type_expr()?;
        let len = self.attempt(|p| {
            p.expect(&Token::Semi)?;
            let len = match p.peek()? {
                Token::Int(v) => v.to_string(),
                Token::Ident(name) => name.to_string(),
                _ => return None,
            };
            p.pos += 1;
            Some(len)
        });
        self.expect(&Token::RBracket)?;
        let element = Box::new(element);
        Some(TypeExpr {
            kind: match len {
                Some(len) => TypeKind::Array { element, len },
                None => TypeKind::Slice(element),
            },
            span: self.since(start),
        })
    }

    fn reference(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.expect(&Token::Other('&'))?;
        let mutable = self.attempt(|p| p.contextual("mut")).is_some();
        let inner = Box::new(self.type_expr()?);
        Some(TypeExpr {
            kind: TypeKind::Ref { mutable, inner },
            span: self.since(start),
        })
    }

    fn pointer(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.expect(&Token::Star)?;
        let mutable = if self.contextual("mut").is_some() {
            true
        } else {
            self.contextual("const")?;
            false
        };
        let inner = Box::new(self.type_expr()?);
        Some(TypeExpr {
            kind: TypeKind::Ptr { mutable, inner },
            span: self.since(start),
        })
    }

    fn never(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.expect(&Token::Other('!'))?;
        Some(TypeExpr {
            kind: TypeKind::Never,
            span: self.since(start),
        })
    }

    fn fn_ptr(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.contextual("fn")?;
        let params = self.types_in(&Token::LParen, &Token::RParen)?;
        let ret = self.attempt(|p| {
            p.expect(&Token::Arrow)?;
            p.type_expr()
        });
        Some(TypeExpr {
            kind: TypeKind::FnPtr {
                params,
                ret: ret.map(Box::new),
            },
            span: self.since(start),
        })
    }

    fn trait_object(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.contextual("dyn")?;
        let bounds = self.separated(&Token::Plus, false, 1, Self::type_path)?;
        Some(TypeExpr {
            kind: TypeKind::TraitObject(bounds),
            span: self.since(start),
        })
    }

    fn qualified(&mut self) -> P<TypeExpr> {
        let start = self.pos;
        self.expect(&Token::Lt)?;
        let self_ty = Box::new(self.type_expr()?);
        let as_trait = self.attempt(|p| {
            p.contextual("as")?;
            p.type_path()
        });
        self.expect(&Token::Gt)?;
        self.expect(&Token::PathSep)?;
        let rest = self.separated(&Token::PathSep, false, 1, Self::segment)?;
        Some(TypeExpr {
            kind: TypeKind::Qualified {
                self_ty,
                as_trait: as_trait.map(Box::new),
                rest,
            },
            span: self.since(start),
        })
    }

    // -----------------------------------------------------------------------
    // Statements

    fn block(&mut self) -> P<Block> {
        let start = self.pos;
        self.expect(&Token::LBrace)?;
        let stmts = self.stmts(start);
        self.expect(&Token::RBrace)?;
        Some(Block {
            stmts,
            trailing_comments: Vec::new(),
            span: self.since(start),
        })
    }

    /// Statements up to the first that does not parse (the caller expects
    /// `}` there; anything else makes the whole parse give up). `open` is
    /// the position of the block's `{`.
    fn stmts(&mut self, open: usize) -> Vec<Stmt> {
        let room = self
            .blocks
            .binary_search_by_key(&open, |(at, _)| *at)
            .ok()
            .and_then(|b| self.blocks.get(b))
            .map_or(0, |(_, room)| *room);
        let mut stmts = Vec::with_capacity(room);
        while let Some(stmt) = self.attempt(Self::stmt) {
            stmts.push(stmt);
        }
        stmts
    }

    fn stmt(&mut self) -> P<Stmt> {
        let start = self.pos;
        let mut annotations = Vec::new();
        while let Some(a) = self.attempt(Self::annotation) {
            annotations.push(a);
        }
        let kind = match self.peek()? {
            Token::Ident(_) => self.message()?,
            Token::Kw(Keyword::Choice) => self.choice()?,
            Token::Kw(Keyword::Rec) => {
                self.pos += 1;
                let name = self.word()?;
                let body = self.block()?;
                StmtKind::Rec { name, body }
            }
            Token::Kw(Keyword::Continue) => {
                self.pos += 1;
                let name = self.word()?;
                self.expect(&Token::Semi)?;
                StmtKind::Continue { name }
            }
            Token::Kw(Keyword::Par) => {
                self.pos += 1;
                let mut branches = vec![self.block()?];
                while let Some(b) = self.attempt(|p| {
                    p.kw(Keyword::And)?;
                    p.block()
                }) {
                    branches.push(b);
                }
                if branches.len() < 2 {
                    return None; // reported by the chumsky parser
                }
                StmtKind::Par { branches }
            }
            Token::Kw(Keyword::For) => {
                self.pos += 1;
                let var = self.word()?;
                self.kw(Keyword::In)?;
                let family = self.word()?;
                let body = self.block()?;
                StmtKind::For { var, family, body }
            }
            Token::Kw(Keyword::Call) => {
                self.pos += 1;
                let invocation = self.invocation()?;
                self.expect(&Token::Semi)?;
                StmtKind::Call(invocation)
            }
            Token::Kw(Keyword::Link) => {
                self.pos += 1;
                let invocation = self.invocation()?;
                self.expect(&Token::Semi)?;
                StmtKind::Link(invocation)
            }
            Token::Kw(Keyword::Delegate) => {
                self.pos += 1;
                let from = self.role_ref()?;
                self.kw(Keyword::To)?;
                let to = self.role_ref()?;
                self.expect(&Token::Semi)?;
                StmtKind::Delegate { from, to }
            }
            Token::Kw(Keyword::Timeout) => {
                self.pos += 1;
                let at = self.pos;
                let Some(Token::Duration(value, unit)) = self.peek() else {
                    return None;
                };
                let duration = DurationLit {
                    value: *value,
                    unit: *unit,
                    span: self.span_at(at),
                };
                self.pos += 1;
                let body = self.block()?;
                self.kw(Keyword::Else)?;
                let handler = self.block()?;
                StmtKind::Timeout {
                    duration,
                    body,
                    handler,
                }
            }
            _ => return None,
        };
        Some(Stmt {
            leading: Leading::default(),
            layout: Layout::default(),
            annotations,
            kind,
            span: self.since(start),
        })
    }

    fn annotation(&mut self) -> P<Annotation> {
        let start = self.pos;
        self.expect(&Token::At)?;
        let name = self.word()?;
        let args = self.attempt(|p| {
            p.expect(&Token::LParen)?;
            let args = p.separated(&Token::Comma, true, 0, Self::annotation_arg)?;
            p.expect(&Token::RParen)?;
            Some(args)
        });
        Some(Annotation {
            name,
            args: args.unwrap_or_default(),
            span: self.since(start),
        })
    }

    fn annotation_arg(&mut self) -> P<AnnotationArg> {
        let (token, span) = self.tokens.get(self.pos)?;
        let arg = match token {
            Token::Str(value) => AnnotationArg::Str {
                value: value.to_string(),
                span: *span,
            },
            Token::Int(value) => AnnotationArg::Int {
                value: *value,
                span: *span,
            },
            Token::Ident(name) => AnnotationArg::Ident(Ident {
                name: name.clone().into(),
                span: *span,
            }),
            _ => return None,
        };
        self.pos += 1;
        Some(arg)
    }

    fn message(&mut self) -> P<StmtKind> {
        let from = self.role_ref()?;
        self.expect(&Token::Arrow)?;
        let to = self.role_ref()?;
        self.expect(&Token::Colon)?;
        let label = self.word()?;
        let payload = self.attempt(|p| {
            p.expect(&Token::LParen)?;
            let ty = p.type_expr()?;
            // Several types (a `,` here) are reported by the chumsky parser.
            p.expect(&Token::RParen)?;
            Some(ty)
        });
        let quorum = self.attempt(|p| {
            p.kw(Keyword::Quorum)?;
            p.size()
        });
        self.expect(&Token::Semi)?;
        Some(StmtKind::Message(Message {
            from,
            to,
            label,
            payload,
            quorum,
        }))
    }

    fn choice(&mut self) -> P<StmtKind> {
        self.kw(Keyword::Choice)?;
        self.kw(Keyword::At)?;
        let chooser = self.role_ref()?;
        self.expect(&Token::LBrace)?;
        let mut branches = Vec::new();
        while let Some(b) = self.attempt(Self::branch) {
            branches.push(b);
        }
        self.expect(&Token::RBrace)?;
        Some(StmtKind::Choice { chooser, branches })
    }

    fn branch(&mut self) -> P<ChoiceBranch> {
        let start = self.pos;
        let name = self.word()?;
        self.expect(&Token::FatArrow)?;
        let body = self.block()?;
        self.eat(&Token::Comma);
        Some(ChoiceBranch {
            leading: Leading::default(),
            name,
            body,
            span: self.since(start),
        })
    }

    fn invocation(&mut self) -> P<Invocation> {
        let protocol = self.module_path()?;
        self.expect(&Token::LParen)?;
        let roles = self.separated(&Token::Comma, true, 0, Self::role_ref)?;
        let params = self.attempt(|p| {
            p.expect(&Token::Semi)?;
            p.separated(&Token::Comma, true, 0, Self::size)
        });
        self.expect(&Token::RParen)?;
        let args_text = args_text(&roles, params.as_deref());
        Some(Invocation {
            protocol,
            roles,
            params: params.unwrap_or_default(),
            args_text,
        })
    }

    // -----------------------------------------------------------------------
    // Items

    fn file(&mut self) -> P<File> {
        let mut file = File::default();
        if self.peek() == Some(&Token::Kw(Keyword::Module)) {
            self.pos += 1;
            let path = self.module_path()?;
            self.expect(&Token::Semi)?;
            file.module = Some(path);
        }
        while let Some(token) = self.peek() {
            match token {
                Token::Kw(Keyword::Use) => {
                    let start = self.pos;
                    self.pos += 1;
                    let path = self.module_path()?;
                    self.expect(&Token::Semi)?;
                    file.uses.push(Use {
                        path,
                        span: self.since(start),
                    });
                }
                Token::Kw(Keyword::Protocol) => {
                    let protocol = self.protocol()?;
                    file.items.push(Item::Protocol(protocol));
                }
                Token::Kw(Keyword::Type) => {
                    let start = self.pos;
                    self.pos += 1;
                    let name = self.word()?;
                    self.expect(&Token::Eq)?;
                    let ty = self.type_expr()?;
                    self.expect(&Token::Semi)?;
                    file.items.push(Item::TypeAlias(TypeAlias {
                        leading: Leading::default(),
                        name,
                        ty,
                        span: self.since(start),
                    }));
                }
                // A second `module` is reported by the chumsky parser.
                _ => return None,
            }
        }
        Some(file)
    }

    fn protocol(&mut self) -> P<Protocol> {
        let start = self.pos;
        self.kw(Keyword::Protocol)?;
        let name = self.word()?;
        let params = if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let params = self.separated(&Token::Comma, true, 0, Self::word)?;
            self.expect(&Token::RParen)?;
            Some(params)
        } else {
            None
        };
        let open = self.pos;
        self.expect(&Token::LBrace)?;
        let roles = if self.peek() == Some(&Token::Kw(Keyword::Roles)) {
            let roles_start = self.pos;
            self.pos += 1;
            let roles = self.separated(&Token::Comma, true, 1, Self::role_decl)?;
            self.expect(&Token::Semi)?;
            Some((roles, self.since(roles_start)))
        } else {
            None
        };
        let stmts = self.stmts(open);
        self.expect(&Token::RBrace)?;
        let span = self.since(start);
        let (roles, roles_span) = match roles {
            Some((r, s)) => (r, Some(s)),
            None => (Vec::new(), None),
        };
        Some(Protocol {
            leading: Leading::default(),
            name,
            params: params.unwrap_or_default(),
            roles,
            roles_span,
            body: Block {
                stmts,
                trailing_comments: Vec::new(),
                span: Span {
                    start: self.span_at(open).start,
                    end: span.end,
                },
            },
            span,
        })
    }

    fn role_decl(&mut self) -> P<RoleDecl> {
        let start = self.pos;
        let name = self.word()?;
        let family = self.attempt(|p| {
            p.expect(&Token::LBracket)?;
            let size = p.size()?;
            p.expect(&Token::RBracket)?;
            Some(size)
        });
        Some(RoleDecl {
            name,
            family,
            span: self.since(start),
        })
    }
}
