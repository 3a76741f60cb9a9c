//! minijinja folds constant expressions while compiling (`'a' * 100000000`, `'x' ~ 'y'`), before
//! any sandbox check can run, and repeated string folds are only capped at 100 MB each, so a
//! chain of them could allocate gigabytes at compile time. This pass bounds, bottom-up, the size
//! of every value folding could build and refuses the template before code generation when one
//! would exceed the value limit.
use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt, UnaryOpKind};
use minijinja::value::ValueKind;

/// What folding a constant expression yields, as far as size is concerned.
#[derive(Clone, Copy)]
enum Folded {
    /// A number (its value matters for repetition counts).
    Num(f64),
    /// A string of at most this many bytes.
    Str(f64),
    /// A list/map or lazy repetition of at most this many items.
    Seq(f64),
}

impl Folded {
    fn size(self) -> f64 {
        match self {
            Folded::Num(_) => 32.0,
            Folded::Str(n) | Folded::Seq(n) => n,
        }
    }
}

/// Fails with the offending size when a foldable constant would exceed `max` bytes or items.
pub(crate) fn check(stmt: &Stmt<'_>, max: usize) -> Result<(), f64> {
    Walker { max: max as f64 }.stmt(stmt)
}

struct Walker {
    max: f64,
}

impl Walker {
    fn stmts(&self, body: &[Stmt<'_>]) -> Result<(), f64> {
        body.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&self, s: &Stmt<'_>) -> Result<(), f64> {
        match s {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => self.expr(&e.expr).map(drop),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => Ok(()),
            Stmt::ForLoop(f) => {
                self.expr(&f.target)?;
                self.expr(&f.iter)?;
                if let Some(e) = &f.filter_expr {
                    self.expr(e)?;
                }
                self.stmts(&f.body)?;
                self.stmts(&f.else_body)
            }
            Stmt::IfCond(c) => {
                self.expr(&c.expr)?;
                self.stmts(&c.true_body)?;
                self.stmts(&c.false_body)
            }
            Stmt::WithBlock(w) => {
                for (a, b) in &w.assignments {
                    self.expr(a)?;
                    self.expr(b)?;
                }
                self.stmts(&w.body)
            }
            Stmt::Set(x) => {
                self.expr(&x.target)?;
                self.expr(&x.expr).map(drop)
            }
            Stmt::SetBlock(x) => {
                self.expr(&x.target)?;
                if let Some(f) = &x.filter {
                    self.expr(f)?;
                }
                self.stmts(&x.body)
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled)?;
                self.stmts(&a.body)
            }
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter)?;
                self.stmts(&f.body)
            }
            Stmt::Block(b) => self.stmts(&b.body),
            Stmt::Import(i) => {
                self.expr(&i.expr)?;
                self.expr(&i.name).map(drop)
            }
            Stmt::FromImport(i) => {
                self.expr(&i.expr)?;
                for (a, b) in &i.names {
                    self.expr(a)?;
                    if let Some(b) = b {
                        self.expr(b)?;
                    }
                }
                Ok(())
            }
            Stmt::Extends(e) => self.expr(&e.name).map(drop),
            Stmt::Include(i) => self.expr(&i.name).map(drop),
            Stmt::Macro(m) => {
                m.args.iter().try_for_each(|e| self.expr(e).map(drop))?;
                m.defaults.iter().try_for_each(|e| self.expr(e).map(drop))?;
                self.stmts(&m.body)
            }
            Stmt::CallBlock(c) => {
                self.expr(&c.call.expr)?;
                self.args(&c.call.args)?;
                c.macro_decl
                    .defaults
                    .iter()
                    .try_for_each(|e| self.expr(e).map(drop))?;
                self.stmts(&c.macro_decl.body)
            }
            Stmt::Do(d) => {
                self.expr(&d.call.expr)?;
                self.args(&d.call.args)
            }
        }
    }

    fn args(&self, args: &[CallArg<'_>]) -> Result<(), f64> {
        for a in args {
            match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => {
                    self.expr(e)?;
                }
            }
        }
        Ok(())
    }

    fn opt(&self, e: &Option<Expr<'_>>) -> Result<(), f64> {
        match e {
            Some(e) => self.expr(e).map(drop),
            None => Ok(()),
        }
    }

    /// Visits `e` and returns what folding it would build (`None`: not a constant).
    fn expr(&self, e: &Expr<'_>) -> Result<Option<Folded>, f64> {
        let folded = match e {
            Expr::Var(_) => None,
            Expr::Const(c) => Some(match c.value.kind() {
                ValueKind::Number | ValueKind::Bool => {
                    Folded::Num(f64::try_from(c.value.clone()).unwrap_or(0.0))
                }
                ValueKind::String => Folded::Str(c.value.as_str().map_or(0, str::len) as f64),
                _ => Folded::Seq(c.value.len().unwrap_or(1) as f64),
            }),
            Expr::List(l) => {
                let mut n = 0.0;
                let mut all_const = true;
                for item in &l.items {
                    match self.expr(item)? {
                        Some(f) => n += f.size(),
                        None => all_const = false,
                    }
                }
                all_const.then_some(Folded::Seq(n))
            }
            Expr::Map(m) => {
                let mut n = 0.0;
                let mut all_const = true;
                for item in m.keys.iter().chain(&m.values) {
                    match self.expr(item)? {
                        Some(f) => n += f.size(),
                        None => all_const = false,
                    }
                }
                all_const.then_some(Folded::Seq(n))
            }
            Expr::UnaryOp(u) => match (&u.op, self.expr(&u.expr)?) {
                (UnaryOpKind::Neg, Some(Folded::Num(x))) => Some(Folded::Num(-x)),
                (UnaryOpKind::Not, Some(_)) => Some(Folded::Num(0.0)),
                _ => None,
            },
            Expr::BinOp(b) => {
                let (l, r) = (self.expr(&b.left)?, self.expr(&b.right)?);
                match (l, r) {
                    (Some(l), Some(r)) => binop(&b.op, l, r),
                    _ => None,
                }
            }
            Expr::Compare(c) => {
                let mut all_const = self.expr(&c.expr)?.is_some();
                for op in &c.ops {
                    all_const &= self.expr(&op.expr)?.is_some();
                }
                all_const.then_some(Folded::Num(0.0))
            }
            Expr::Slice(s) => {
                self.expr(&s.expr)?;
                self.opt(&s.start)?;
                self.opt(&s.stop)?;
                self.opt(&s.step)?;
                None
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr)?;
                self.expr(&i.true_expr)?;
                self.opt(&i.false_expr)?;
                None
            }
            Expr::Filter(f) => {
                self.opt(&f.expr)?;
                self.args(&f.args)?;
                None
            }
            Expr::Test(t) => {
                self.expr(&t.expr)?;
                self.args(&t.args)?;
                None
            }
            Expr::GetAttr(g) => {
                self.expr(&g.expr)?;
                None
            }
            Expr::GetItem(g) => {
                self.expr(&g.expr)?;
                self.expr(&g.subscript_expr)?;
                None
            }
            Expr::Call(c) => {
                self.expr(&c.expr)?;
                self.args(&c.args)?;
                None
            }
        };
        match folded {
            Some(f) if f.size() > self.max => Err(f.size()),
            other => Ok(other),
        }
    }
}

/// The size of `l op r` when both sides are constants (an upper bound; `None` where minijinja
/// would not fold because the operation fails).
fn binop(op: &BinOpKind, l: Folded, r: Folded) -> Option<Folded> {
    use Folded::{Num, Seq, Str};
    let count = |n: f64| {
        if n.is_finite() {
            n.max(0.0)
        } else {
            f64::INFINITY
        }
    };
    Some(match (op, l, r) {
        (BinOpKind::Concat, l, r) => Str(l.size() + r.size()),
        (BinOpKind::Add, Num(a), Num(b)) => Num(a + b),
        (BinOpKind::Add, Str(a), Str(b)) => Str(a + b),
        (BinOpKind::Add, Seq(a), Seq(b)) => Seq(a + b),
        (BinOpKind::Mul, Str(s), Num(n)) | (BinOpKind::Mul, Num(n), Str(s)) => Str(s * count(n)),
        (BinOpKind::Mul, Seq(s), Num(n)) | (BinOpKind::Mul, Num(n), Seq(s)) => Seq(s * count(n)),
        (BinOpKind::Mul, Num(a), Num(b)) => Num(a * b),
        (BinOpKind::Pow, Num(a), Num(b)) => Num(a.powf(b)),
        (
            BinOpKind::Sub | BinOpKind::Div | BinOpKind::FloorDiv | BinOpKind::Rem,
            Num(a),
            Num(b),
        ) => Num(a.abs().max(b.abs())),
        (BinOpKind::ScAnd | BinOpKind::ScOr, l, r) => {
            if l.size() >= r.size() {
                l
            } else {
                r
            }
        }
        (
            BinOpKind::Eq
            | BinOpKind::Ne
            | BinOpKind::Lt
            | BinOpKind::Lte
            | BinOpKind::Gt
            | BinOpKind::Gte
            | BinOpKind::In,
            _,
            _,
        ) => Num(0.0),
        _ => return None,
    })
}
