//! Checks an annotated function's signature against its kind and extracts the element types.
//!
//! The element types are what the descriptor advertises and what the generated code
//! monomorphizes over (see `sparkwasm_abi::FunctionDescriptor`): for `flat_map` the item type
//! of the returned collection, for `filter`, `key` and `partitioner` the type behind the `&`,
//! for `map_partitions(_with_index)` and `foreach_partition` the item types of the iterators,
//! for `seq_op` (`fn(U, V) -> U`) input `V` and output `U`, for `foreach(_partition)` output
//! `()`.

use quote::ToTokens;
use sparkwasm_abi::FunctionKind;
use syn::{
    FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type, TypeParamBound, TypePath,
};

/// The element types of a checked function.
pub(crate) struct Signature {
    /// Element type consumed (for `reduce`: the value type `V`; for `seq_op`: `V`).
    pub(crate) input: Type,
    /// Element type produced (for `filter` and `reduce`: the same as `input`; for `key`: the
    /// key; for `seq_op`: the accumulator `U`; for `partitioner`: `u64`; for `foreach` and
    /// `foreach_partition`: `()`).
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
        FunctionKind::MapPartitionsWithIndex => {
            "#[sparkwasm::map_partitions_with_index] expects fn(index: u32, rows: \
             impl Iterator<Item = T>) -> impl Iterator<Item = U> (or -> Vec<U>)"
        }
        FunctionKind::Key => {
            "#[sparkwasm::key] expects fn(x: &T) -> K, taking the record by reference and \
             returning its key"
        }
        FunctionKind::SeqOp => {
            "#[sparkwasm::seq_op] expects fn(acc: U, v: V) -> U, returning the accumulator's type"
        }
        FunctionKind::Partitioner => {
            "#[sparkwasm::partitioner] expects fn(key: &K) -> u64, taking the key by reference"
        }
        FunctionKind::Foreach => {
            "#[sparkwasm::foreach] expects fn(x: T), taking the record by value and returning \
             nothing"
        }
        FunctionKind::ForeachPartition => {
            "#[sparkwasm::foreach_partition] expects fn(rows: impl Iterator<Item = T>), \
             returning nothing"
        }
        // Checked by `sql`, with its own messages.
        FunctionKind::Udf | FunctionKind::Udaf => "a SQL function is checked by its own macro",
    }
}

/// The number of arguments each kind takes.
fn arity(kind: FunctionKind) -> usize {
    match kind {
        FunctionKind::Reduce | FunctionKind::SeqOp | FunctionKind::MapPartitionsWithIndex => 2,
        _ => 1,
    }
}

/// Whether the kind returns nothing.
fn returns_nothing(kind: FunctionKind) -> bool {
    matches!(kind, FunctionKind::Foreach | FunctionKind::ForeachPartition)
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
    let wanted = arity(kind);
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
    let unit: Type = syn::parse_quote!(());
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => {
            if returns_nothing(kind) && !is_unit(ty) {
                return Err(fail(ty, "remove the return type"));
            }
            &**ty
        }
        ReturnType::Default if returns_nothing(kind) => &unit,
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
            let input = partition_item(arg).map_err(|d| fail(arg, d))?;
            let output = partition_output(ret).map_err(|d| fail(ret, d))?;
            Ok(Signature { input, output })
        }
        FunctionKind::MapPartitionsWithIndex => {
            if !is_path(arg, "u32") {
                return Err(fail(arg, "take the partition index as `u32`"));
            }
            let rows = args[1];
            let input = partition_item(rows).map_err(|d| fail(rows, d))?;
            let output = partition_output(ret).map_err(|d| fail(ret, d))?;
            Ok(Signature { input, output })
        }
        FunctionKind::Key => {
            let record = by_reference(arg).map_err(|d| fail(arg, d))?;
            by_value(ret).map_err(|d| fail(ret, d))?;
            Ok(Signature {
                input: record.clone(),
                output: ret.clone(),
            })
        }
        FunctionKind::SeqOp => {
            let value = args[1];
            by_value(arg).map_err(|d| fail(arg, d))?;
            by_value(value).map_err(|d| fail(value, d))?;
            if spelling(arg) != spelling(ret) {
                return Err(fail(
                    ret,
                    "the return type differs from the accumulator (first argument) type",
                ));
            }
            Ok(Signature {
                input: value.clone(),
                output: arg.clone(),
            })
        }
        FunctionKind::Partitioner => {
            let key = by_reference(arg).map_err(|d| fail(arg, d))?;
            if !is_path(ret, "u64") {
                return Err(fail(ret, "return `u64`"));
            }
            Ok(Signature {
                input: key.clone(),
                output: ret.clone(),
            })
        }
        FunctionKind::Foreach => {
            by_value(arg).map_err(|d| fail(arg, d))?;
            Ok(Signature {
                input: arg.clone(),
                output: unit,
            })
        }
        FunctionKind::ForeachPartition => {
            let input = partition_item(arg).map_err(|d| fail(arg, d))?;
            Ok(Signature {
                input,
                output: unit,
            })
        }
        FunctionKind::Udf | FunctionKind::Udaf => Err(fail(&sig.ident, "use #[udf] or #[udaf]")),
    }
}

/// `T` in a partition argument `impl Iterator<Item = T>`.
fn partition_item(arg: &Type) -> Result<Type, &'static str> {
    let item = item_of_impl(arg, &["Iterator"])
        .ok_or("take the partition as `impl Iterator<Item = T>`")?;
    by_value(&item)?;
    Ok(item)
}

/// `U` in a partition result `impl Iterator<Item = U>` or `Vec<U>`.
fn partition_output(ret: &Type) -> Result<Type, &'static str> {
    let item = item_of_impl(ret, &["Iterator"])
        .or_else(|| generic_arg_of(ret, &["Vec"]))
        .ok_or("return `impl Iterator<Item = U>` or `Vec<U>`")?;
    by_value(&item)?;
    Ok(item)
}

/// `T` behind a `&T` argument.
fn by_reference(arg: &Type) -> Result<&Type, &'static str> {
    match arg {
        Type::Reference(reference) if reference.mutability.is_none() => {
            by_value(&reference.elem)?;
            Ok(&reference.elem)
        }
        _ => Err("take it as `&T`"),
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
    is_path(ty, "bool")
}

/// Whether `ty` is the plain path `name` (`u32`, `u64`, `bool`).
fn is_path(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(TypePath { qself: None, path }) if path.is_ident(name))
}

/// Whether `ty` is `()`.
fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
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
    fn new_kinds_read_their_element_types() {
        let cases = [
            (
                FunctionKind::MapPartitionsWithIndex,
                "fn f(i: u32, rows: impl Iterator<Item = i64>) -> impl Iterator<Item = (u32, i64)> { todo!() }",
                ("i64", "(u32,i64)"),
            ),
            (FunctionKind::Key, "fn f(x: &String) -> i64 { 0 }", ("String", "i64")),
            (
                FunctionKind::SeqOp,
                "fn f(acc: (i64, i64), v: i64) -> (i64, i64) { acc }",
                ("i64", "(i64,i64)"),
            ),
            (FunctionKind::Partitioner, "fn f(k: &i64) -> u64 { 0 }", ("i64", "u64")),
            (FunctionKind::Foreach, "fn f(x: i64) { }", ("i64", "()")),
            (FunctionKind::Foreach, "fn f(x: i64) -> () { }", ("i64", "()")),
            (
                FunctionKind::ForeachPartition,
                "fn f(rows: impl Iterator<Item = String>) { }",
                ("String", "()"),
            ),
        ];
        for (kind, src, (input, output)) in cases {
            assert_eq!(
                check_src(kind, src),
                Ok((input.into(), output.into())),
                "{src}"
            );
        }
    }

    #[test]
    fn new_kinds_refuse_wrong_signatures_with_the_expected_one() {
        let cases = [
            (
                FunctionKind::MapPartitionsWithIndex,
                "fn f(i: usize, rows: impl Iterator<Item = i64>) -> Vec<i64> { todo!() }",
                "take the partition index as `u32`",
            ),
            (
                FunctionKind::Key,
                "fn f(x: String) -> i64 { 0 }",
                "take it as `&T`",
            ),
            (
                FunctionKind::SeqOp,
                "fn f(acc: i64, v: String) -> String { v }",
                "differs from the accumulator",
            ),
            (
                FunctionKind::Partitioner,
                "fn f(k: &i64) -> u32 { 0 }",
                "return `u64`",
            ),
            (
                FunctionKind::Foreach,
                "fn f(x: i64) -> i64 { x }",
                "remove the return type",
            ),
            (
                FunctionKind::ForeachPartition,
                "fn f(rows: Vec<i64>) { }",
                "impl Iterator<Item = T>",
            ),
        ];
        for (kind, src, detail) in cases {
            let err = check_src(kind, src).unwrap_err();
            assert!(err.starts_with(expected(kind)), "{src}: {err}");
            assert!(err.contains(detail), "{src}: {err}");
        }
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
