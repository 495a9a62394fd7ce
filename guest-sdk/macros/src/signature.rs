//! Checks an annotated function's signature against its kind and extracts the element types.
//!
//! The element types are what the descriptor advertises and what the generated code
//! monomorphizes over: for `flat_map` the item type of the returned collection, for `filter`
//! the record type behind the `&`, for `map_partitions` the item types of the iterators.

use quote::ToTokens;
use sparkwasm_abi::FunctionKind;
use syn::{
    FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type, TypeParamBound, TypePath,
};

/// The element types of a checked function.
pub(crate) struct Signature {
    /// Element type consumed (for `reduce`: the value type `V`).
    pub(crate) input: Type,
    /// Element type produced (for `filter` and `reduce`: the same as `input`).
    pub(crate) output: Type,
}

/// The signature each kind expects, as told to the author when theirs does not fit.
pub(crate) fn expected(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Map => {
            "#[sparkwasm::map] expects fn(T) -> U: one argument taken by value and one return value"
        }
        FunctionKind::FlatMap => {
            "#[sparkwasm::flat_map] expects fn(T) -> Vec<U> (or -> Option<U>, \
             -> impl IntoIterator<Item = U>, -> impl Iterator<Item = U>)"
        }
        FunctionKind::Filter => {
            "#[sparkwasm::filter] expects fn(&T) -> bool, taking the record by reference"
        }
        FunctionKind::Reduce => {
            "#[sparkwasm::reduce] expects fn(V, V) -> V with both arguments of the same type"
        }
        FunctionKind::MapPartitions => {
            "#[sparkwasm::map_partitions] expects fn(impl Iterator<Item = T>) -> \
             impl Iterator<Item = U> (or -> Vec<U>)"
        }
    }
}

/// Checks `func` against `kind` and returns its element types, or an error (spanned at the
/// offending tokens) that states the expected signature.
pub(crate) fn check(kind: FunctionKind, func: &ItemFn) -> syn::Result<Signature> {
    let sig = &func.sig;
    let fail = |tokens: &dyn ToTokens, detail: &str| {
        syn::Error::new_spanned(tokens, format!("{}; {detail}", expected(kind)))
    };
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(fail(&sig.generics, "sparkwasm functions cannot be generic"));
    }
    if let Some(asyncness) = &sig.asyncness {
        return Err(fail(asyncness, "sparkwasm functions cannot be async"));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(fail(unsafety, "sparkwasm functions cannot be unsafe"));
    }
    if let Some(abi) = &sig.abi {
        return Err(fail(abi, "sparkwasm functions use the Rust ABI"));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(fail(variadic, "sparkwasm functions cannot be variadic"));
    }
    let mut args = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Typed(typed) => args.push(&*typed.ty),
            FnArg::Receiver(receiver) => {
                return Err(fail(
                    receiver,
                    "sparkwasm functions are free functions, not methods",
                ))
            }
        }
    }
    let wanted = if kind == FunctionKind::Reduce { 2 } else { 1 };
    if args.len() != wanted {
        let detail = format!("found {} argument(s)", args.len());
        return Err(match args.first() {
            Some(_) => fail(&sig.inputs, &detail),
            None => syn::Error::new(
                sig.paren_token.span.join(),
                format!("{}; {detail}", expected(kind)),
            ),
        });
    }
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => &**ty,
        ReturnType::Default => return Err(fail(&sig.ident, "the function returns nothing")),
    };
    let arg = args[0];

    match kind {
        FunctionKind::Map => {
            by_value(arg).map_err(|d| fail(arg, d))?;
            by_value(ret).map_err(|d| fail(ret, d))?;
            Ok(Signature {
                input: arg.clone(),
                output: ret.clone(),
            })
        }
        FunctionKind::FlatMap => {
            by_value(arg).map_err(|d| fail(arg, d))?;
            let item = generic_arg_of(ret, &["Vec", "Option"])
                .or_else(|| item_of_impl(ret, &["IntoIterator", "Iterator"]))
                .ok_or_else(|| {
                    fail(
                        ret,
                        "write the return type as one of those so the item type can be read",
                    )
                })?;
            by_value(&item).map_err(|d| fail(ret, d))?;
            Ok(Signature {
                input: arg.clone(),
                output: item,
            })
        }
        FunctionKind::Filter => {
            let record = match arg {
                Type::Reference(reference) if reference.mutability.is_none() => &*reference.elem,
                _ => return Err(fail(arg, "take the record as `&T`")),
            };
            by_value(record).map_err(|d| fail(arg, d))?;
            if !is_bool(ret) {
                return Err(fail(ret, "return `bool`"));
            }
            Ok(Signature {
                input: record.clone(),
                output: record.clone(),
            })
        }
        FunctionKind::Reduce => {
            let second = args[1];
            by_value(arg).map_err(|d| fail(arg, d))?;
            if spelling(arg) != spelling(second) {
                return Err(fail(second, "the arguments have different types"));
            }
            if spelling(arg) != spelling(ret) {
                return Err(fail(ret, "the return type differs from the argument type"));
            }
            Ok(Signature {
                input: arg.clone(),
                output: arg.clone(),
            })
        }
        FunctionKind::MapPartitions => {
            let input = item_of_impl(arg, &["Iterator"])
                .ok_or_else(|| fail(arg, "take the partition as `impl Iterator<Item = T>`"))?;
            by_value(&input).map_err(|d| fail(arg, d))?;
            let output = item_of_impl(ret, &["Iterator"])
                .or_else(|| generic_arg_of(ret, &["Vec"]))
                .ok_or_else(|| fail(ret, "return `impl Iterator<Item = U>` or `Vec<U>`"))?;
            by_value(&output).map_err(|d| fail(ret, d))?;
            Ok(Signature { input, output })
        }
    }
}

/// The type as the author spelled it, with all whitespace removed (`(String,i64)`): the
/// descriptor's element type names.
pub(crate) fn spelling(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Element types are owned values: no references, no `impl Trait`, no inferred `_`.
fn by_value(ty: &Type) -> Result<(), &'static str> {
    match ty {
        Type::Reference(_) => Err("element types are owned values; drop the `&`"),
        Type::ImplTrait(_) => Err("element types must be named types, not `impl Trait`"),
        Type::Infer(_) => Err("element types must be written out, not `_`"),
        Type::Never(_) => Err("element types cannot be `!`"),
        Type::Paren(inner) => by_value(&inner.elem),
        Type::Group(inner) => by_value(&inner.elem),
        _ => Ok(()),
    }
}

fn is_bool(ty: &Type) -> bool {
    matches!(ty, Type::Path(TypePath { qself: None, path }) if path.is_ident("bool"))
}

/// `U` in `Vec<U>` / `Option<U>` (any path ending in one of `names` with one type argument).
fn generic_arg_of(ty: &Type, names: &[&str]) -> Option<Type> {
    let Type::Path(TypePath { qself: None, path }) = ty else {
        return None;
    };
    let last = path.segments.last()?;
    if !names.iter().any(|name| last.ident == name) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    let first = types.next()?;
    // `Vec<U, A>` names an allocator; anything else with two type arguments is not ours.
    match types.next() {
        None => Some(first.clone()),
        Some(_) => None,
    }
}

/// `U` in `impl Iterator<Item = U>` (for the traits named in `traits`).
fn item_of_impl(ty: &Type, traits: &[&str]) -> Option<Type> {
    let Type::ImplTrait(imp) = ty else {
        return None;
    };
    imp.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if !traits.iter().any(|name| last.ident == name) {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_src(kind: FunctionKind, src: &str) -> Result<(String, String), String> {
        let func: ItemFn = syn::parse_str(src).expect("test source parses");
        check(kind, &func)
            .map(|sig| (spelling(&sig.input), spelling(&sig.output)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn map_takes_types_as_spelled() {
        let got = check_src(
            FunctionKind::Map,
            "fn f(w: String) -> ( String , i64 ) { todo!() }",
        );
        assert_eq!(got, Ok(("String".into(), "(String,i64)".into())));
    }

    #[test]
    fn flat_map_reads_the_item_type() {
        for (ret, item) in [
            ("Vec<String>", "String"),
            ("std::vec::Vec<(u8, u8)>", "(u8,u8)"),
            ("Option<i64>", "i64"),
            ("impl IntoIterator<Item = f64>", "f64"),
            ("impl Iterator<Item = Vec<i64>> + 'static", "Vec<i64>"),
        ] {
            let src = format!("fn f(x: i64) -> {ret} {{ todo!() }}");
            assert_eq!(
                check_src(FunctionKind::FlatMap, &src),
                Ok(("i64".into(), item.into()))
            );
        }
        let err = check_src(
            FunctionKind::FlatMap,
            "fn f(x: i64) -> HashSet<i64> { todo!() }",
        );
        assert!(err.unwrap_err().contains("Vec<U> (or -> Option<U>"));
    }

    #[test]
    fn filter_wants_a_reference_and_bool() {
        assert_eq!(
            check_src(FunctionKind::Filter, "fn f(w: &String) -> bool { true }"),
            Ok(("String".into(), "String".into()))
        );
        let err = check_src(FunctionKind::Filter, "fn f(w: String) -> bool { true }").unwrap_err();
        assert!(err.contains("expects fn(&T) -> bool"), "{err}");
        assert!(check_src(FunctionKind::Filter, "fn f(w: &String) -> i32 { 1 }").is_err());
        assert!(check_src(
            FunctionKind::Filter,
            "fn f(w: &mut String) -> bool { true }"
        )
        .is_err());
    }

    #[test]
    fn reduce_wants_three_equal_types() {
        assert_eq!(
            check_src(
                FunctionKind::Reduce,
                "fn f(a: i64, b: i64) -> i64 { a + b }"
            ),
            Ok(("i64".into(), "i64".into()))
        );
        for bad in [
            "fn f(a: i64, b: i32) -> i64 { 0 }",
            "fn f(a: i64, b: i64) -> i32 { 0 }",
            "fn f(a: i64) -> i64 { a }",
            "fn f(a: &i64, b: &i64) -> i64 { 0 }",
        ] {
            let err = check_src(FunctionKind::Reduce, bad).unwrap_err();
            assert!(
                err.contains("both arguments of the same type"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn map_partitions_reads_iterator_items() {
        assert_eq!(
            check_src(
                FunctionKind::MapPartitions,
                "fn f(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = (i64, f64)> { rows }"
            ),
            Ok(("i64".into(), "(i64,f64)".into()))
        );
        assert_eq!(
            check_src(
                FunctionKind::MapPartitions,
                "fn f(rows: impl Iterator<Item = i64>) -> Vec<String> { todo!() }"
            ),
            Ok(("i64".into(), "String".into()))
        );
        assert!(check_src(
            FunctionKind::MapPartitions,
            "fn f(rows: Vec<i64>) -> Vec<i64> { rows }"
        )
        .is_err());
    }

    #[test]
    fn generic_async_and_method_functions_are_refused() {
        for bad in [
            "fn f<T>(x: T) -> T { x }",
            "async fn f(x: i64) -> i64 { x }",
            "unsafe fn f(x: i64) -> i64 { x }",
            "fn f(x: i64) { }",
            "fn f(x: &i64) -> i64 { *x }",
            "fn f() -> i64 { 1 }",
        ] {
            let err = check_src(FunctionKind::Map, bad).unwrap_err();
            assert!(
                err.starts_with("#[sparkwasm::map] expects fn(T) -> U"),
                "{bad}: {err}"
            );
        }
    }
}
