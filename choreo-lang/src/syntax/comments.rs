//! Re-attaches comments (set aside before parsing) to the tree, by
//! position: a comment belongs to the item, statement or branch that
//! follows it, or to the end of the enclosing block. A comment in the
//! middle of a statement moves before that statement (or into the next
//! nested block), which is where `fmt` prints it.
//!
//! With the source text at hand (the text lexer), it also records each
//! statement's [`Layout`](crate::ast::Layout): comments on the statement's last line stay at
//! its end, and a blank line before it is kept.

use super::token::Token;
use crate::ast::{Block, File, Item, Leading, Stmt, StmtKind};
use crate::span::Span;

struct Trivia<'s> {
    items: Vec<(Token, Span)>,
    pos: usize,
    /// The source text, when the tokens came from text.
    source: Option<&'s str>,
}

impl Trivia<'_> {
    /// Every remaining comment that starts before `offset`.
    fn take_before(&mut self, offset: u32) -> Vec<Token> {
        let mut out = Vec::new();
        while let Some((t, s)) = self.items.get(self.pos) {
            if s.start >= offset {
                break;
            }
            out.push(t.clone());
            self.pos += 1;
        }
        out
    }

    fn rest(&mut self) -> Vec<Token> {
        self.take_before(u32::MAX)
    }

    /// The source between two offsets, if known and in range.
    fn text(&self, from: u32, to: u32) -> Option<&str> {
        self.source?.get(from as usize..to as usize)
    }

    /// Comments that start on the line where a statement ends at `end`,
    /// with only spaces between them and it (a comment after a closing `}`
    /// of the enclosing block is not the statement's).
    fn take_end_of_line(&mut self, end: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut from = end;
        while let Some((token, span)) = self.items.get(self.pos) {
            let same_line = self
                .text(from, span.start)
                .is_some_and(|gap| gap.chars().all(|c| c.is_whitespace() && c != '\n'));
            match token {
                Token::Comment(c) if same_line => out.push(c.clone()),
                _ => break,
            }
            from = span.end;
            self.pos += 1;
        }
        out
    }

    /// Whether a blank line lies between offsets `from` and `to`, outside
    /// the comments there.
    fn blank_line_between(&self, from: u32, to: u32) -> bool {
        let first = self.items.partition_point(|(_, s)| s.start < from);
        let mut gap_start = from;
        let comments = self
            .items
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|(_, s)| s.start < to)
            .map(|(_, s)| *s);
        for span in comments.chain(std::iter::once(Span::new(to as usize, to as usize))) {
            let newlines = self
                .text(gap_start, span.start)
                .map_or(0, |gap| gap.bytes().filter(|b| *b == b'\n').count());
            if newlines >= 2 {
                return true;
            }
            gap_start = span.end;
        }
        false
    }
}

fn add_leading(leading: &mut Leading, tokens: Vec<Token>) {
    for t in tokens {
        match t {
            Token::Doc(d) => leading.docs.push(d),
            Token::Comment(c) => leading.comments.push(c),
            _ => {}
        }
    }
}

fn add_verbatim(out: &mut Vec<String>, tokens: Vec<Token>) {
    for t in tokens {
        match t {
            Token::Doc(d) => out.push(format!("///{d}")),
            Token::Comment(c) => out.push(c),
            _ => {}
        }
    }
}

/// Attaches `trivia` (comment tokens, in source order) to `file`.
/// `source` is the text the tokens were lexed from (`None` for a token
/// stream, which has no layout to keep).
pub fn attach(file: &mut File, mut trivia: Vec<(Token, Span)>, source: Option<&str>) {
    trivia.sort_by_key(|(_, s)| s.start);
    let mut tv = Trivia {
        items: trivia,
        pos: 0,
        source,
    };
    let header_end = file
        .uses
        .iter()
        .map(|u| u.span.end)
        .chain(file.module.as_ref().map(|m| m.span.end))
        .max();
    if let Some(end) = header_end {
        let header = tv.take_before(end);
        add_verbatim(&mut file.header_comments, header);
    }
    for item in &mut file.items {
        match item {
            Item::TypeAlias(a) => {
                let before = tv.take_before(a.span.end);
                add_leading(&mut a.leading, before);
            }
            Item::Protocol(p) => {
                let before = tv.take_before(p.body.span.start.saturating_add(1));
                add_leading(&mut p.leading, before);
                attach_block(&mut p.body, &mut tv);
            }
            Item::Error(span) => {
                // Comments inside skipped text stay in the text that is
                // reported; they are dropped with it.
                let _ = tv.take_before(span.end);
            }
        }
    }
    add_verbatim(&mut file.trailing_comments, tv.rest());
}

fn attach_block(block: &mut Block, tv: &mut Trivia<'_>) {
    let mut previous_end = None;
    for stmt in &mut block.stmts {
        if let Some(end) = previous_end {
            stmt.layout.blank_line_before = tv.blank_line_between(end, stmt.span.start);
        }
        attach_stmt(stmt, tv);
        if !matches!(stmt.kind, StmtKind::Error) {
            stmt.layout.end_of_line = tv.take_end_of_line(stmt.span.end);
        }
        previous_end = Some(stmt.span.end);
    }
    let rest = tv.take_before(block.span.end);
    add_verbatim(&mut block.trailing_comments, rest);
}

/// Comments before `block` (but after the previous part of its statement)
/// go to its first statement, or to its end when it is empty.
fn attach_inner_block(block: &mut Block, tv: &mut Trivia<'_>) {
    let before = tv.take_before(block.span.start);
    match block.stmts.first_mut() {
        Some(first) => add_leading(&mut first.leading, before),
        None => add_verbatim(&mut block.trailing_comments, before),
    }
    attach_block(block, tv);
}

fn attach_stmt(stmt: &mut Stmt, tv: &mut Trivia<'_>) {
    let header_end = match &stmt.kind {
        // Comments between the chooser and the first branch belong to
        // that branch.
        StmtKind::Choice { chooser, .. } => Some(chooser.span.end),
        StmtKind::Rec { body, .. } | StmtKind::For { body, .. } => Some(body.span.start),
        StmtKind::Par { branches } => branches.first().map(|b| b.span.start),
        StmtKind::Timeout { body, .. } => Some(body.span.start),
        _ => None,
    };
    let before = tv.take_before(header_end.unwrap_or(stmt.span.end));
    add_leading(&mut stmt.leading, before);
    match &mut stmt.kind {
        StmtKind::Choice { branches, .. } => {
            for b in branches {
                let before = tv.take_before(b.span.start.saturating_add(1));
                add_leading(&mut b.leading, before);
                attach_inner_block(&mut b.body, tv);
            }
        }
        StmtKind::Rec { body, .. } | StmtKind::For { body, .. } => attach_inner_block(body, tv),
        StmtKind::Par { branches } => {
            for b in branches {
                attach_inner_block(b, tv);
            }
        }
        StmtKind::Timeout { body, handler, .. } => {
            attach_inner_block(body, tv);
            attach_inner_block(handler, tv);
        }
        _ => {}
    }
    // Comments after the last nested block but inside the statement (before
    // a choice's closing `}`) go to the end of the statement's last block.
    let rest = tv.take_before(stmt.span.end);
    if rest.is_empty() {
        return;
    }
    let last_block = match &mut stmt.kind {
        StmtKind::Choice { branches, .. } => branches.last_mut().map(|b| &mut b.body),
        StmtKind::Rec { body, .. } | StmtKind::For { body, .. } => Some(body),
        StmtKind::Par { branches } => branches.last_mut(),
        StmtKind::Timeout { handler, .. } => Some(handler),
        _ => None,
    };
    match last_block {
        Some(block) => add_verbatim(&mut block.trailing_comments, rest),
        None => add_leading(&mut stmt.leading, rest),
    }
}
