//! The table of SQL types shared by `#[udf]`, `#[udaf]` and `#[derive(SqlStruct)]`: which Rust
//! spellings stand for which Spark types, where.
//!
//! A macro sees only spellings, so the table is syntactic: `i64` is `bigint`, `List<T>` and
//! `Vec<T>` are `array<T>`, `Option<T>` is a nullable `T`. Any other plain name (`Point`,
//! `PointRef<'_>`) is taken for a struct with `#[derive(sparkwasm::SqlStruct)]`; its Spark
//! type is that struct's `SqlStruct::SQL_TYPE` constant, which the macro cannot see, so a
//! type string holding structs is built at compile time (`string_tokens`). A name that is
//! no such struct (a type alias, a missing derive) fails the build at the trait bound.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use sparkwasm_abi::columnar::SqlType;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, GenericArgument, Lifetime, Lit, LitStr, PathArguments, Type, TypePath};

use crate::signature::spelling;

/// Where a type appears: arguments borrow (`&str`, `List<T>`), results own (`String`,
/// `Vec<T>`), struct fields may do either (a struct may be both).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    Argument,
    Result,
    Field,
}

/// The types a position allows, as told to the author.
pub(crate) fn allowed(position: Position) -> &'static str {
    match position {
        Position::Argument => {
            "the argument types of a sparkwasm SQL function are bool, i8, i16, i32, i64, f32, \
             f64, &str, &[u8], Date, Timestamp, TimestampNtz, Decimal<P, S> and List<T> (an \
             array; the last five from `sparkwasm`), structs with \
             #[derive(sparkwasm::SqlStruct)], or Option<T> of one of them for a nullable \
             argument (type aliases are not resolved)"
        }
        Position::Result => {
            "the result types of a sparkwasm SQL function are bool, i8, i16, i32, i64, f32, \
             f64, String, Vec<u8>, Date, Timestamp, TimestampNtz and Decimal<P, S> (the last \
             four from `sparkwasm`), Vec<T> (an array), structs with \
             #[derive(sparkwasm::SqlStruct)], or Option<T> of one of them for a nullable \
             result (type aliases are not resolved)"
        }
        Position::Field => {
            "the field types of a #[derive(sparkwasm::SqlStruct)] struct are bool, i8, i16, \
             i32, i64, f32, f64, &str or String, &[u8] or Vec<u8>, Date, Timestamp, \
             TimestampNtz, Decimal<P, S>, List<T> or Vec<T> (an array), other derived \
             structs, or Option<T> of one of them for a nullable field (type aliases are not \
             resolved)"
        }
    }
}

/// Names that are Rust types but no SQL type: refused by name rather than taken for a
/// struct, so the error is the macro's own.
const NOT_SQL: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i128", "isize", "char", "str", "f16", "f128",
    "Box", "Rc", "Arc", "Cow", "HashMap", "BTreeMap", "HashSet", "BTreeSet", "VecDeque", "Result",
    "Self",
];

/// A Spark type read from a spelling.
#[derive(Clone)]
pub(crate) enum SqlTy {
    /// A type the table names fully.
    Known(SqlType),
    /// `array<T>` of a type holding a struct.
    Array(Box<SqlTy>),
    /// A derived struct: the type whose `SqlStruct::SQL_TYPE` names it (lifetimes made
    /// `'static`, which a constant can name).
    Struct(Type),
}

/// Where a struct's type string goes in a rendered string: `$SPARKWASM_STRUCT_<i>$`
/// (`$` appears in no Spark type, no Rust name and nothing JSON escapes).
const HOLE: &str = "$SPARKWASM_STRUCT_";

impl SqlTy {
    fn array(element: SqlTy) -> SqlTy {
        match element {
            SqlTy::Known(known) => SqlTy::Known(SqlType::Array(Box::new(known))),
            other => SqlTy::Array(Box::new(other)),
        }
    }

    /// The Spark type string, each struct as a hole numbered by its place in `holes`.
    pub(crate) fn render(&self, holes: &mut Vec<Type>) -> String {
        match self {
            SqlTy::Known(known) => known.to_string(),
            SqlTy::Array(element) => format!("array<{}>", element.render(holes)),
            SqlTy::Struct(ty) => {
                holes.push(ty.clone());
                format!("{HOLE}{}$", holes.len() - 1)
            }
        }
    }
}

/// A piece of a rendered string.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Hole(usize),
}

/// `text` cut at its holes.
pub(crate) fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(HOLE) {
        let after = &rest[start + HOLE.len()..];
        let Some(end) = after.find('$') else { break };
        let Ok(index) = after[..end].parse::<usize>() else {
            break;
        };
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_owned()));
        }
        out.push(Piece::Hole(index));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    out
}

/// The expressions of `text`'s pieces: string literals and the constants naming the structs.
pub(crate) fn piece_tokens(text: &str, holes: &[Type]) -> Vec<TokenStream> {
    pieces(text)
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => LitStr::new(&text, Span::call_site()).to_token_stream(),
            Piece::Hole(index) => match holes.get(index) {
                Some(ty) => quote_spanned! {ty.span()=>
                    <#ty as ::sparkwasm::codegen::sql::SqlStruct>::SQL_TYPE
                },
                None => quote!(""),
            },
        })
        .collect()
}

/// A `&'static str` expression of `text`: the literal itself, or with holes a concatenation
/// evaluated at compile time.
pub(crate) fn string_tokens(text: &str, holes: &[Type]) -> TokenStream {
    if !text.contains(HOLE) {
        return LitStr::new(text, Span::call_site()).to_token_stream();
    }
    let parts = piece_tokens(text, holes);
    let sqlm = quote!(::sparkwasm::codegen::sql);
    quote! {{
        const __SPARKWASM_PARTS: &[&str] = &[#(#parts),*];
        const __SPARKWASM_LEN: usize = #sqlm::concat_len(__SPARKWASM_PARTS);
        const __SPARKWASM_BYTES: [u8; __SPARKWASM_LEN] =
            #sqlm::concat_bytes::<__SPARKWASM_LEN>(__SPARKWASM_PARTS, false);
        #sqlm::utf8(&__SPARKWASM_BYTES)
    }}
}

/// An argument, result or field type, classified.
pub(crate) struct Classified {
    /// The type as written, with the lifetimes of references and lists removed
    /// (`Option<&str>`, `List<i64>`).
    pub(crate) ty: Type,
    /// The type without its `Option` (`&str`).
    pub(crate) base: Type,
    /// Whether it is an `Option`.
    pub(crate) nullable: bool,
    /// Its Spark type.
    pub(crate) sql: SqlTy,
}

/// Classifies `ty` by the table of SQL types. Named lifetimes are allowed where
/// `borrowed_ok` (`#[udaf]` arguments under `for<'a>`, fields of a struct with a lifetime);
/// they are dropped from [`Classified::ty`].
pub(crate) fn classify(
    ty: &Type,
    position: Position,
    borrowed_ok: bool,
) -> syn::Result<Classified> {
    let unknown = |tokens: &dyn ToTokens, detail: &str| {
        syn::Error::new_spanned(tokens, format!("{detail}; {}", allowed(position)))
    };
    match ty {
        Type::Paren(inner) => classify(&inner.elem, position, borrowed_ok),
        Type::Group(inner) => classify(&inner.elem, position, borrowed_ok),
        Type::Reference(reference) => {
            if reference.mutability.is_some() {
                return Err(unknown(
                    ty,
                    "SQL arguments are shared references, not `&mut`",
                ));
            }
            if position == Position::Result {
                return Err(unknown(
                    ty,
                    "a result cannot borrow: return `String` for a string or `Vec<u8>` for \
                     a binary",
                ));
            }
            check_lifetime(reference.lifetime.as_ref(), position, borrowed_ok)?;
            let (base, sql): (Type, SqlType) = match &*reference.elem {
                Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => {
                    (syn::parse_quote!(&str), SqlType::String)
                }
                Type::Slice(slice) if is_ident(&slice.elem, "u8") => {
                    (syn::parse_quote!(&[u8]), SqlType::Binary)
                }
                Type::Slice(_) if position != Position::Result => {
                    return Err(unknown(
                        ty,
                        "take an array argument as `sparkwasm::List<T>` (a view of the batch)",
                    ))
                }
                _ => {
                    return Err(unknown(
                        ty,
                        &format!("`{}` is not a SQL type", spelling(ty)),
                    ))
                }
            };
            Ok(Classified {
                ty: base.clone(),
                base,
                nullable: false,
                sql: SqlTy::Known(sql),
            })
        }
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Err(unknown(ty, "an empty path"));
            };
            let name = last.ident.to_string();
            let mut type_args: Vec<&Type> = Vec::new();
            let mut lifetimes: Vec<&Lifetime> = Vec::new();
            let mut other_args: Vec<&GenericArgument> = Vec::new();
            match &last.arguments {
                PathArguments::None => {}
                PathArguments::AngleBracketed(args) => {
                    for arg in &args.args {
                        match arg {
                            GenericArgument::Type(ty) => type_args.push(ty),
                            GenericArgument::Lifetime(lifetime) => lifetimes.push(lifetime),
                            other => other_args.push(other),
                        }
                    }
                }
                PathArguments::Parenthesized(_) => {
                    return Err(unknown(
                        ty,
                        &format!("`{}` is not a SQL type", spelling(ty)),
                    ))
                }
            }
            let plain = |sql: SqlType| {
                if type_args.is_empty() && lifetimes.is_empty() && other_args.is_empty() {
                    Ok(Classified {
                        ty: ty.clone(),
                        base: ty.clone(),
                        nullable: false,
                        sql: SqlTy::Known(sql),
                    })
                } else {
                    Err(unknown(ty, &format!("`{name}` takes no type arguments")))
                }
            };
            let single = || match (type_args.as_slice(), other_args.is_empty()) {
                ([one], true) => Some(*one),
                _ => None,
            };
            match name.as_str() {
                "bool" => plain(SqlType::Boolean),
                "i8" => plain(SqlType::Byte),
                "i16" => plain(SqlType::Short),
                "i32" => plain(SqlType::Int),
                "i64" => plain(SqlType::Long),
                "f32" => plain(SqlType::Float),
                "f64" => plain(SqlType::Double),
                "Date" => plain(SqlType::Date),
                "Timestamp" => plain(SqlType::Timestamp),
                "TimestampNtz" => plain(SqlType::TimestampNtz),
                "String" if position != Position::Argument => plain(SqlType::String),
                "String" => Err(unknown(
                    ty,
                    "take a string argument as `&str` (it borrows from the batch; no copy)",
                )),
                "Vec" => {
                    let element = single().ok_or_else(|| unknown(ty, "`Vec` takes one type"))?;
                    if is_ident(element, "u8") {
                        return if position == Position::Argument {
                            Err(unknown(
                                ty,
                                "take a binary argument as `&[u8]` (it borrows from the batch; \
                                 no copy)",
                            ))
                        } else {
                            Ok(Classified {
                                ty: ty.clone(),
                                base: ty.clone(),
                                nullable: false,
                                sql: SqlTy::Known(SqlType::Binary),
                            })
                        };
                    }
                    if position == Position::Argument {
                        return Err(unknown(
                            ty,
                            "take an array argument as `sparkwasm::List<T>` (a view of the \
                             batch; no copy)",
                        ));
                    }
                    let element = classify(element, position, borrowed_ok)?;
                    let rebuilt = with_args(path, vec![element.ty.clone()]);
                    Ok(Classified {
                        ty: rebuilt.clone(),
                        base: rebuilt,
                        nullable: false,
                        sql: SqlTy::array(element.sql),
                    })
                }
                "List" => {
                    if position == Position::Result {
                        return Err(unknown(
                            ty,
                            "a result cannot borrow: return `Vec<T>` for an array",
                        ));
                    }
                    let element =
                        single().ok_or_else(|| unknown(ty, "`List` takes one type: `List<T>`"))?;
                    if lifetimes.len() > 1 {
                        return Err(unknown(ty, "`List` takes one lifetime"));
                    }
                    check_lifetime(lifetimes.first().copied(), position, borrowed_ok)?;
                    let element = classify(element, position, borrowed_ok)?;
                    let rebuilt = with_args(path, vec![element.ty.clone()]);
                    Ok(Classified {
                        ty: rebuilt.clone(),
                        base: rebuilt,
                        nullable: false,
                        sql: SqlTy::array(element.sql),
                    })
                }
                "Decimal" => decimal(ty, &last.arguments, position),
                "Option" => {
                    let inner = single().ok_or_else(|| unknown(ty, "`Option` takes one type"))?;
                    let inner = classify(inner, position, borrowed_ok)?;
                    if inner.nullable {
                        return Err(unknown(ty, "`Option<Option<T>>` is not a SQL type"));
                    }
                    Ok(Classified {
                        ty: with_args(path, vec![inner.base.clone()]),
                        base: inner.base,
                        nullable: true,
                        sql: inner.sql,
                    })
                }
                _ if NOT_SQL.contains(&name.as_str())
                    || !type_args.is_empty()
                    || !other_args.is_empty() =>
                {
                    Err(unknown(
                        ty,
                        &format!("`{}` is not a SQL type", spelling(ty)),
                    ))
                }
                // Any other name: a derived struct.
                _ => {
                    if position == Position::Result && !lifetimes.is_empty() {
                        return Err(unknown(
                            ty,
                            "a result cannot borrow: return a struct without a lifetime",
                        ));
                    }
                    for lifetime in &lifetimes {
                        check_lifetime(Some(lifetime), position, borrowed_ok)?;
                    }
                    let stripped = with_args(path, Vec::new());
                    Ok(Classified {
                        ty: stripped.clone(),
                        base: stripped,
                        nullable: false,
                        sql: SqlTy::Struct(with_static_lifetimes(path)),
                    })
                }
            }
        }
        Type::Tuple(_) => Err(unknown(
            ty,
            &format!(
                "`{}` is not a SQL type (for a struct<...>, derive sparkwasm::SqlStruct on a \
                 struct with named fields)",
                spelling(ty)
            ),
        )),
        _ => Err(unknown(
            ty,
            &format!("`{}` is not a SQL type", spelling(ty)),
        )),
    }
}

/// Checks a lifetime of a borrowed type: none or `'_` anywhere, a named one only where
/// `borrowed_ok`, never `'static`.
fn check_lifetime(
    lifetime: Option<&Lifetime>,
    position: Position,
    borrowed_ok: bool,
) -> syn::Result<()> {
    match lifetime {
        Some(lifetime) if lifetime.ident == "static" => Err(syn::Error::new_spanned(
            lifetime,
            format!(
                "an argument borrows from its batch, not for `'static`; {}",
                allowed(position)
            ),
        )),
        Some(lifetime) if lifetime.ident != "_" && !borrowed_ok => Err(syn::Error::new_spanned(
            lifetime,
            format!(
                "write the argument's reference without a lifetime; {}",
                allowed(position)
            ),
        )),
        _ => Ok(()),
    }
}

/// `Decimal<P, S>` with integer literal precision 1..=38 and scale 0..=P.
fn decimal(ty: &Type, args: &PathArguments, position: Position) -> syn::Result<Classified> {
    let error =
        |detail: &str| syn::Error::new_spanned(ty, format!("{detail}; {}", allowed(position)));
    let args: Vec<&GenericArgument> = match args {
        PathArguments::AngleBracketed(args) => args.args.iter().collect(),
        _ => Vec::new(),
    };
    let [precision, scale] = args.as_slice() else {
        return Err(error(
            "write a decimal as `Decimal<P, S>` with its precision and scale",
        ));
    };
    let literal = |arg: &GenericArgument| -> Option<i64> {
        match arg {
            GenericArgument::Const(Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            })) => int.base10_parse().ok(),
            _ => None,
        }
    };
    let (Some(precision), Some(scale)) = (literal(precision), literal(scale)) else {
        return Err(error(
            "write the decimal's precision and scale as integer literals (`Decimal<10, 2>`)",
        ));
    };
    if !(1..=38).contains(&precision) || !(0..=precision).contains(&scale) {
        return Err(error(&format!(
            "`Decimal<{precision}, {scale}>`: Spark decimals have a precision of 1 to 38 and a \
             scale of 0 to the precision"
        )));
    }
    Ok(Classified {
        ty: ty.clone(),
        base: ty.clone(),
        nullable: false,
        sql: SqlTy::Known(SqlType::Decimal {
            // In range, checked above.
            precision: precision as u8,
            scale: scale as i8,
        }),
    })
}

pub(crate) fn is_ident(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(TypePath { qself: None, path }) if path.is_ident(name))
}

/// `path` with the arguments of its last segment replaced by the types `args` (none: no
/// arguments at all).
fn with_args(path: &TypePath, args: Vec<Type>) -> Type {
    let mut path = path.clone();
    if let Some(last) = path.path.segments.last_mut() {
        last.arguments = if args.is_empty() {
            PathArguments::None
        } else {
            PathArguments::AngleBracketed(syn::parse_quote!(<#(#args),*>))
        };
    }
    Type::Path(path)
}

/// `path` with every lifetime argument of its last segment `'static`.
fn with_static_lifetimes(path: &TypePath) -> Type {
    let mut path = path.clone();
    if let Some(last) = path.path.segments.last_mut() {
        if let PathArguments::AngleBracketed(args) = &mut last.arguments {
            for arg in args.args.iter_mut() {
                if let GenericArgument::Lifetime(lifetime) = arg {
                    *lifetime = Lifetime::new("'static", lifetime.span());
                }
            }
        }
    }
    Type::Path(path)
}

/// Gives each argument of `func` that holds a `List` one named lifetime for all its elided
/// ones (`List<&str>` becomes `List<'__sparkwasm_a0, &'__sparkwasm_a0 str>`).
///
/// A `List<'a, T>` views elements that borrow for the same `'a`, but elision gives every
/// elided lifetime of a signature its own, which `List<'_, &'_ str>` cannot satisfy; naming
/// them one is what the author would write by hand. Results never borrow, so the function
/// means the same.
pub(crate) fn unify_list_lifetimes(func: &mut syn::ItemFn) {
    let mut added = Vec::new();
    for (index, input) in func.sig.inputs.iter_mut().enumerate() {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        if !contains_list(&typed.ty) {
            continue;
        }
        let lifetime = Lifetime::new(&format!("'__sparkwasm_a{index}"), Span::call_site());
        name_elided(&mut typed.ty, &lifetime);
        added.push(lifetime);
    }
    for lifetime in added {
        func.sig
            .generics
            .params
            .push(syn::GenericParam::Lifetime(syn::LifetimeParam::new(
                lifetime,
            )));
    }
}

fn contains_list(ty: &Type) -> bool {
    match ty {
        Type::Paren(inner) => contains_list(&inner.elem),
        Type::Group(inner) => contains_list(&inner.elem),
        Type::Reference(reference) => contains_list(&reference.elem),
        Type::Path(path) => path.path.segments.iter().any(|segment| {
            segment.ident == "List"
                || match &segment.arguments {
                    PathArguments::AngleBracketed(args) => args
                        .args
                        .iter()
                        .any(|arg| matches!(arg, GenericArgument::Type(ty) if contains_list(ty))),
                    _ => false,
                }
        }),
        _ => false,
    }
}

/// Replaces the elided and `'_` lifetimes of `ty` with `lifetime`, adding it to `List`s
/// written without one.
fn name_elided(ty: &mut Type, lifetime: &Lifetime) {
    let elided = |current: &Lifetime| current.ident == "_";
    match ty {
        Type::Paren(inner) => name_elided(&mut inner.elem, lifetime),
        Type::Group(inner) => name_elided(&mut inner.elem, lifetime),
        Type::Slice(slice) => name_elided(&mut slice.elem, lifetime),
        Type::Reference(reference) => {
            if reference.lifetime.as_ref().is_none_or(elided) {
                reference.lifetime = Some(lifetime.clone());
            }
            name_elided(&mut reference.elem, lifetime);
        }
        Type::Path(path) => {
            for segment in path.path.segments.iter_mut() {
                let is_list = segment.ident == "List";
                if is_list && matches!(segment.arguments, PathArguments::None) {
                    continue;
                }
                if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    let mut has_lifetime = false;
                    for arg in args.args.iter_mut() {
                        match arg {
                            GenericArgument::Lifetime(current) => {
                                has_lifetime = true;
                                if elided(current) {
                                    *current = lifetime.clone();
                                }
                            }
                            GenericArgument::Type(inner) => name_elided(inner, lifetime),
                            _ => {}
                        }
                    }
                    if is_list && !has_lifetime {
                        args.args
                            .insert(0, GenericArgument::Lifetime(lifetime.clone()));
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(src: &str, position: Position) -> String {
        let ty: Type = syn::parse_str(src).unwrap();
        let classified = classify(&ty, position, true).unwrap_or_else(|err| panic!("{src}: {err}"));
        let mut holes = Vec::new();
        let text = classified.sql.render(&mut holes);
        let holes: Vec<String> = holes.iter().map(spelling).collect();
        if holes.is_empty() {
            text
        } else {
            format!("{text} {holes:?}")
        }
    }

    #[test]
    fn arrays_and_structs_render_with_holes_for_the_structs() {
        assert_eq!(sql_of("List<i64>", Position::Argument), "array<bigint>");
        assert_eq!(
            sql_of("sparkwasm::List<'_, Option<&str>>", Position::Argument),
            "array<string>"
        );
        assert_eq!(
            sql_of("List<List<Decimal<5, 1>>>", Position::Argument),
            "array<array<decimal(5,1)>>"
        );
        assert_eq!(
            sql_of("Vec<Option<String>>", Position::Result),
            "array<string>"
        );
        assert_eq!(sql_of("Vec<Vec<u8>>", Position::Result), "array<binary>");
        assert_eq!(
            sql_of("Point", Position::Argument),
            "$SPARKWASM_STRUCT_0$ [\"Point\"]"
        );
        assert_eq!(
            sql_of("Vec<Option<geo::Point>>", Position::Result),
            "array<$SPARKWASM_STRUCT_0$> [\"geo::Point\"]"
        );
        assert_eq!(
            sql_of("PointRef<'a>", Position::Field),
            "$SPARKWASM_STRUCT_0$ [\"PointRef<'static>\"]"
        );
    }

    #[test]
    fn lifetimes_are_dropped_from_the_rust_spelling() {
        let ty: Type = syn::parse_str("Option<List<'a, Option<&'a str>>>").unwrap();
        let classified = classify(&ty, Position::Argument, true).unwrap();
        assert_eq!(spelling(&classified.ty), "Option<List<Option<&str>>>");
        assert_eq!(spelling(&classified.base), "List<Option<&str>>");
        assert!(classified.nullable);
    }

    #[test]
    fn list_arguments_get_one_named_lifetime() {
        let mut func: syn::ItemFn = syn::parse_str(
            "fn f(n: i64, s: &str, xs: Option<sparkwasm::List<'_, Option<&str>>>, \
             ys: List<List<PointRef<'_>>>) -> i64 { 0 }",
        )
        .unwrap();
        unify_list_lifetimes(&mut func);
        let sig = func.sig.to_token_stream().to_string().replace(' ', "");
        assert_eq!(
            sig,
            "fnf<'__sparkwasm_a2,'__sparkwasm_a3>(n:i64,s:&str,xs:Option<sparkwasm::List<\
             '__sparkwasm_a2,Option<&'__sparkwasm_a2str>>>,ys:List<'__sparkwasm_a3,List<\
             '__sparkwasm_a3,PointRef<'__sparkwasm_a3>>>)->i64"
        );
    }

    #[test]
    fn pieces_split_at_the_holes() {
        assert_eq!(pieces("int"), [Piece::Text("int".into())]);
        assert_eq!(pieces(""), [Piece::Text(String::new())]);
        assert_eq!(
            pieces("array<$SPARKWASM_STRUCT_0$>,$SPARKWASM_STRUCT_12$"),
            [
                Piece::Text("array<".into()),
                Piece::Hole(0),
                Piece::Text(">,".into()),
                Piece::Hole(12)
            ]
        );
    }

    #[test]
    fn misplaced_nested_types_say_what_to_write() {
        for (src, position, detail) in [
            ("Vec<i64>", Position::Argument, "as `sparkwasm::List<T>`"),
            ("&[i64]", Position::Argument, "as `sparkwasm::List<T>`"),
            ("List<i64>", Position::Result, "return `Vec<T>`"),
            (
                "List<String>",
                Position::Argument,
                "take a string argument as `&str`",
            ),
            ("Vec<&str>", Position::Result, "a result cannot borrow"),
            ("List<u64>", Position::Argument, "`u64` is not a SQL type"),
            (
                "Vec<Option<Option<i32>>>",
                Position::Result,
                "Option<Option<T>>",
            ),
            ("PointRef<'a>", Position::Result, "a result cannot borrow"),
            (
                "HashMap<String, i64>",
                Position::Result,
                "is not a SQL type",
            ),
            ("Point<T>", Position::Argument, "is not a SQL type"),
            (
                "(i32, String)",
                Position::Result,
                "derive sparkwasm::SqlStruct",
            ),
        ] {
            let ty: Type = syn::parse_str(src).unwrap();
            let err = classify(&ty, position, false)
                .err()
                .unwrap_or_else(|| panic!("{src} was accepted"))
                .to_string();
            assert!(err.contains(detail), "{src}: {err}");
        }
        // Fields may own or borrow.
        for src in [
            "String",
            "&'a str",
            "Vec<u8>",
            "&'a [u8]",
            "Vec<i64>",
            "List<'a, i64>",
        ] {
            let ty: Type = syn::parse_str(src).unwrap();
            assert!(classify(&ty, Position::Field, true).is_ok(), "{src}");
        }
    }
}
