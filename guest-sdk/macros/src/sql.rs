//! `#[udf]` and `#[udaf]`: Spark SQL functions.
//!
//! Both read their Spark signature from the Rust types as spelled, through one table (see
//! `sql_types::classify`); a type outside it is a `compile_error!` listing the allowed ones.
//! Any other plain name is taken for a struct with `#[derive(sparkwasm::SqlStruct)]`, whose
//! Spark type string is a constant the macro cannot see: a descriptor naming one is
//! assembled at compile time from literal pieces and those constants (a name that is no
//! such struct, a type alias for one, fails the build there).
//!
//! * `#[udf]` on `fn name(a: A, b: B, ...) -> R` generates a monomorphic batch function: it
//!   views each argument column as its type, then loops over the rows, calling `name` and
//!   appending to a result column of `R`. When no non-`Option` argument column holds a null
//!   the loop has no null checks at all; otherwise each row checks those arguments first and
//!   applies the null policy (`skip`: a null result without calling `name`; `reject`: the
//!   task fails naming the argument and the row).
//! * `#[udaf]` on `fn name() -> impl sparkwasm::Udaf<Args, Output = R>` reads the argument
//!   and result types from that bound (a macro cannot see the `impl Udaf` block of a named
//!   type, so the bound is where they are spelled). `name` makes a group's accumulator; the
//!   generated update loop calls `Udaf::update` per row (rows with a null in a non-`Option`
//!   argument are skipped, or fail the task with `nulls = "reject"`), and `Udaf::finish`
//!   gives the group's result.
//!
//! As for the RDD kinds, everything generated lives in the handle export's body, next to the
//! descriptor (now with its `sql` signature) in the `sparkwasm.functions` section.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use sparkwasm_abi::{
    FunctionDescriptor, FunctionKind, NullPolicy, SqlSignature, ABI_VERSION, DESCRIPTOR_SECTION,
};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, LitByteStr, LitStr, PathArguments, ReturnType, Type,
    TypeParamBound,
};

use crate::expand::descriptor_bytes;
use crate::signature::spelling;
use crate::sql_types::{
    classify, piece_tokens, string_tokens, unify_list_lifetimes, Classified, Position,
};

/// Parses `nulls = "skip" | "reject"` (or nothing).
fn parse_policy(kind: FunctionKind, attr: TokenStream) -> syn::Result<NullPolicy> {
    let mut policy = NullPolicy::Skip;
    let usage = format!(
        "#[sparkwasm::{}] takes one optional argument: `nulls = \"skip\"` (the default: a \
         null in a non-Option argument {}) or `nulls = \"reject\"` (it fails the task)",
        kind.as_str(),
        if kind == FunctionKind::Udf {
            "makes the result null without calling the function"
        } else {
            "skips the row"
        }
    );
    let parser = syn::meta::parser(|meta| {
        if !meta.path.is_ident("nulls") {
            return Err(meta.error(&usage));
        }
        let value: LitStr = meta.value()?.parse()?;
        policy = match value.value().as_str() {
            "skip" => NullPolicy::Skip,
            "reject" => NullPolicy::Reject,
            _ => return Err(syn::Error::new(value.span(), &usage)),
        };
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(policy)
}

/// Refuses what no SQL function can be: generic, async, unsafe, foreign or a method.
fn check_plain(func: &ItemFn, expected: &str) -> syn::Result<Vec<Type>> {
    let sig = &func.sig;
    let fail = |tokens: &dyn ToTokens, detail: &str| {
        syn::Error::new_spanned(tokens, format!("{expected}; {detail}"))
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
    sig.inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Typed(typed) => Ok((*typed.ty).clone()),
            FnArg::Receiver(receiver) => Err(fail(
                receiver,
                "sparkwasm functions are free functions, not methods",
            )),
        })
        .collect()
}

const UDF_EXPECTED: &str = "#[sparkwasm::udf] expects fn(a: A, b: B, ...) -> R over SQL types";
const UDAF_EXPECTED: &str =
    "#[sparkwasm::udaf] expects fn() -> impl sparkwasm::Udaf<Args, Output = R>, making a \
     group's accumulator";

/// A checked `#[udf]` or `#[udaf]`.
struct SqlSig {
    kind: FunctionKind,
    policy: NullPolicy,
    args: Vec<Classified>,
    result: Classified,
    /// `#[udaf]`: the `Args` of `Udaf<Args>` (lifetimes removed), and whether it is a tuple
    /// of the arguments (else the one argument itself).
    udaf_args: Option<(Type, bool)>,
}

fn check_udf(func: &ItemFn, policy: NullPolicy) -> syn::Result<SqlSig> {
    let arg_types = check_plain(func, UDF_EXPECTED)?;
    let args = arg_types
        .iter()
        .map(|ty| classify(ty, Position::Argument, false))
        .collect::<syn::Result<Vec<_>>>()?;
    let result = match &func.sig.output {
        ReturnType::Type(_, ty) => classify(ty, Position::Result, false)?,
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                &func.sig.ident,
                format!("{UDF_EXPECTED}; the function returns nothing"),
            ))
        }
    };
    Ok(SqlSig {
        kind: FunctionKind::Udf,
        policy,
        args,
        result,
        udaf_args: None,
    })
}

fn check_udaf(func: &ItemFn, policy: NullPolicy) -> syn::Result<SqlSig> {
    let arg_types = check_plain(func, UDAF_EXPECTED)?;
    if !arg_types.is_empty() {
        return Err(syn::Error::new_spanned(
            &func.sig.inputs,
            format!("{UDAF_EXPECTED}; it takes no arguments (the rows go to `Udaf::update`)"),
        ));
    }
    let read_bound = "write the return type as `impl sparkwasm::Udaf<Args, Output = R>`: the \
                      macro reads the argument and result types from it";
    let ReturnType::Type(_, ret) = &func.sig.output else {
        return Err(syn::Error::new_spanned(
            &func.sig.ident,
            format!("{UDAF_EXPECTED}; {read_bound}"),
        ));
    };
    let Type::ImplTrait(imp) = &**ret else {
        return Err(syn::Error::new_spanned(
            ret,
            format!("{UDAF_EXPECTED}; {read_bound}"),
        ));
    };
    let bound = imp
        .bounds
        .iter()
        .find_map(|bound| match bound {
            TypeParamBound::Trait(bound)
                if bound
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "Udaf") =>
            {
                Some(bound)
            }
            _ => None,
        })
        .ok_or_else(|| syn::Error::new_spanned(ret, format!("{UDAF_EXPECTED}; {read_bound}")))?;
    let Some(PathArguments::AngleBracketed(generics)) =
        bound.path.segments.last().map(|last| &last.arguments)
    else {
        return Err(syn::Error::new_spanned(
            bound,
            format!("{UDAF_EXPECTED}; {read_bound}"),
        ));
    };
    let mut args_ty = None;
    let mut output = None;
    for arg in &generics.args {
        match arg {
            GenericArgument::Type(ty) if args_ty.is_none() => args_ty = Some(ty),
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                output = Some(&assoc.ty);
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!("{UDAF_EXPECTED}; `Udaf` takes the argument type and `Output = R`"),
                ))
            }
        }
    }
    let Some(args_ty) = args_ty else {
        return Err(syn::Error::new_spanned(
            bound,
            format!("{UDAF_EXPECTED}; name the argument type: `Udaf<(A, B), Output = R>`"),
        ));
    };
    let Some(output) = output else {
        return Err(syn::Error::new_spanned(
            bound,
            format!("{UDAF_EXPECTED}; name the result type: `Udaf<Args, Output = R>`"),
        ));
    };
    // A reference argument needs a lifetime the author's function can name: `for<'a>`.
    let borrowed_ok = bound.lifetimes.is_some();
    let (elements, is_tuple): (Vec<&Type>, bool) = match args_ty {
        Type::Tuple(tuple) => (tuple.elems.iter().collect(), true),
        single => (vec![single], false),
    };
    let args = elements
        .into_iter()
        .map(|ty| {
            if let Type::Reference(reference) = ty {
                if reference.lifetime.is_none() {
                    return Err(syn::Error::new_spanned(
                        ty,
                        "a borrowed UDAF argument needs a named lifetime: write \
                         `impl for<'a> sparkwasm::Udaf<&'a str, Output = R>` (and implement \
                         `Udaf<&'a str>` for every `'a`)",
                    ));
                }
            }
            classify(ty, Position::Argument, borrowed_ok)
        })
        .collect::<syn::Result<Vec<_>>>()?;
    let result = classify(output, Position::Result, false)?;
    let erased: Type = if is_tuple {
        let types = args.iter().map(|arg| &arg.ty);
        if args.len() == 1 {
            syn::parse_quote!((#(#types,)*))
        } else {
            syn::parse_quote!((#(#types),*))
        }
    } else {
        args.first()
            .map_or_else(|| args_ty.clone(), |arg| arg.ty.clone())
    };
    Ok(SqlSig {
        kind: FunctionKind::Udaf,
        policy,
        args,
        result,
        udaf_args: Some((erased, is_tuple)),
    })
}

/// Expands `#[udf]` (`kind` udf) or `#[udaf]` on `item`; errors become one `compile_error!`
/// next to the unchanged item.
pub(crate) fn expand(kind: FunctionKind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => {
            let err = err.to_compile_error();
            return quote! { #err #item };
        }
    };
    let checked = parse_policy(kind, attr).and_then(|policy| match kind {
        FunctionKind::Udaf => check_udaf(&func, policy),
        _ => check_udf(&func, policy),
    });
    let mut func = func;
    let generated = match checked {
        Ok(sig) => {
            let generated = generate(&func, &sig);
            unify_list_lifetimes(&mut func);
            generated
        }
        Err(err) => err.to_compile_error(),
    };
    quote! { #func #generated }
}

/// The descriptor of a checked SQL function, and the structs its type strings name: each
/// is a hole (`$SPARKWASM_STRUCT_<i>$`) in the strings, filled at compile time.
fn descriptor(name: &str, sig: &SqlSig) -> (FunctionDescriptor, Vec<Type>) {
    let input = match &sig.udaf_args {
        Some((args, _)) => spelling(args),
        None => match sig.args.as_slice() {
            [one] => spelling(&one.ty),
            args => format!(
                "({})",
                args.iter()
                    .map(|arg| spelling(&arg.ty))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        },
    };
    let mut holes = Vec::new();
    let args = sig
        .args
        .iter()
        .map(|arg| arg.sql.render(&mut holes))
        .collect();
    let returns = sig.result.sql.render(&mut holes);
    let descriptor = FunctionDescriptor {
        abi_version: ABI_VERSION,
        name: name.to_owned(),
        kind: sig.kind,
        input,
        output: spelling(&sig.result.ty),
        sql: Some(SqlSignature {
            args,
            nullable_args: sig.args.iter().map(|arg| arg.nullable).collect(),
            returns,
            returns_nullable: sig.result.nullable,
            nulls: sig.policy,
        }),
    };
    (descriptor, holes)
}

/// The `static` holding the descriptor entry in the `sparkwasm.functions` section: a
/// literal, or with struct holes an array concatenated at compile time.
fn descriptor_static(
    descriptor: &FunctionDescriptor,
    holes: &[Type],
    desc_ident: &Ident,
) -> TokenStream {
    let section = LitStr::new(DESCRIPTOR_SECTION, Span::call_site());
    let attrs = quote! {
        #[cfg_attr(target_arch = "wasm32", link_section = #section)]
        #[used]
        #[allow(non_upper_case_globals, unsafe_code)]
    };
    if holes.is_empty() {
        let entry = descriptor_bytes(descriptor);
        let entry_len = entry.len();
        let entry_lit = LitByteStr::new(&entry, Span::call_site());
        return quote! {
            #attrs
            static #desc_ident: [u8; #entry_len] = *#entry_lit;
        };
    }
    // Serializing a struct of strings, integers and enums to JSON cannot fail.
    let json = serde_json::to_string(descriptor).unwrap_or_default();
    let parts = piece_tokens(&json, holes);
    let sqlm = quote!(::sparkwasm::codegen::sql);
    quote! {
        const __SPARKWASM_DESC_PARTS: &[&str] = &[#(#parts),*];
        const __SPARKWASM_DESC_LEN: usize = 4 + #sqlm::concat_len(__SPARKWASM_DESC_PARTS);
        #attrs
        static #desc_ident: [u8; __SPARKWASM_DESC_LEN] =
            #sqlm::concat_bytes::<__SPARKWASM_DESC_LEN>(__SPARKWASM_DESC_PARTS, true);
    }
}

fn generate(func: &ItemFn, sig: &SqlSig) -> TokenStream {
    let ident = &func.sig.ident;
    let name = ident.to_string().trim_start_matches("r#").to_owned();
    let name_lit = LitStr::new(&name, Span::call_site());
    let export = format_ident!("{}{}", sparkwasm_abi::FUNCTION_EXPORT_PREFIX, name);
    let desc_ident = format_ident!("__SPARKWASM_DESC_{}", name);
    let (descriptor, holes) = descriptor(&name, sig);
    let desc_static = descriptor_static(&descriptor, &holes, &desc_ident);
    let kind = sig.kind.as_str();
    let doc = format!(
        "sparkwasm handle export of the {kind} function `{name}` (generated by \
         `#[sparkwasm::{kind}]`)."
    );
    let sql_args = descriptor
        .sql
        .iter()
        .flat_map(|sql| sql.args.iter())
        .map(|arg| string_tokens(arg, &holes));
    let returns = string_tokens(
        descriptor
            .sql
            .as_ref()
            .map_or("", |sql| sql.returns.as_str()),
        &holes,
    );

    let cg = quote!(::sparkwasm::codegen);
    let sqlm = quote!(::sparkwasm::codegen::sql);
    let ret = &sig.result.ty;
    let (entry_tokens, items, constructor) = match &sig.udaf_args {
        None => {
            let call = scalar_call(ident, sig);
            (
                quote! {
                    #sqlm::SqlEntry::Scalar {
                        new_result: #sqlm::new_result::<#ret>,
                        call: __sparkwasm_call,
                    }
                },
                call,
                quote!(udf),
            )
        }
        Some((args_ty, is_tuple)) => {
            let items = aggregate_fns(ident, sig, args_ty, *is_tuple);
            (
                quote! {
                    #sqlm::SqlEntry::Aggregate {
                        new_result: #sqlm::new_result::<#ret>,
                        init: __sparkwasm_init,
                        update: __sparkwasm_update,
                        finish: __sparkwasm_finish,
                    }
                },
                items,
                quote!(udaf),
            )
        }
    };

    quote! {
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(unsafe_code, unreachable_pub, clippy::missing_safety_doc)]
        #[no_mangle]
        pub extern "C" fn #export() -> u32 {
            #desc_static

            #items

            static __SPARKWASM_FUNCTION: #cg::Function = #cg::Function::#constructor(
                #name_lit,
                #sqlm::SqlFunction {
                    args: &[#(#sql_args),*],
                    returns: #returns,
                    entry: #entry_tokens,
                },
            );
            #cg::handle_of(&__SPARKWASM_FUNCTION)
        }
    }
}

/// The generated loop's pieces shared by both kinds: the columns bound to `__c<i>`, the
/// per-row argument expressions, the condition of the check-free loop and the per-row null
/// checks (`on_null` given the argument index and its column).
struct Loop {
    bind: TokenStream,
    values: Vec<TokenStream>,
    no_nulls: Option<TokenStream>,
    checks: Vec<TokenStream>,
}

fn loop_parts(sig: &SqlSig, on_null: impl Fn(usize) -> TokenStream) -> Loop {
    let sqlm = quote!(::sparkwasm::codegen::sql);
    let count = sig.args.len();
    let columns: Vec<Ident> = (0..count).map(|i| format_ident!("__c{}", i)).collect();
    let scratch: Vec<Ident> = (0..count).map(|i| format_ident!("__s{}", i)).collect();
    let views = sig.args.iter().zip(&columns).zip(&scratch).enumerate().map(
        |(index, ((arg, column), scratch))| {
            let base = &arg.base;
            quote! {
                let #column = <#base as #sqlm::ArgType<'_>>::column(#column, #scratch)
                    .map_err(|message| #sqlm::CallError::column(#index, message))?;
            }
        },
    );
    let bind = quote! {
        let __rows = __call.rows;
        let ([#(#columns),*], [#(#scratch),*]) = (__call.columns, &mut *__call.scratch) else {
            return ::core::result::Result::Err(#sqlm::CallError::Arity { expected: #count });
        };
        #(#views)*
        // Every column has `rows` rows; saying so lets the compiler drop bounds checks.
        let __rows = __rows #(.min(#sqlm::Column::len(&#columns)))*;
    };
    let values = sig
        .args
        .iter()
        .zip(&columns)
        .map(|(arg, column)| {
            if arg.nullable {
                quote!(#sqlm::Column::get(&#column, __row))
            } else {
                quote!(#sqlm::Column::value(&#column, __row))
            }
        })
        .collect();
    let plain: Vec<(usize, &Ident)> = sig
        .args
        .iter()
        .zip(&columns)
        .enumerate()
        .filter(|(_, (arg, _))| !arg.nullable)
        .map(|(index, (_, column))| (index, column))
        .collect();
    let no_nulls = (!plain.is_empty()).then(|| {
        let has_nulls = plain
            .iter()
            .map(|(_, column)| quote!(#sqlm::Column::has_nulls(&#column)));
        quote!(!(#(#has_nulls)||*))
    });
    let checks = plain
        .iter()
        .map(|(index, column)| {
            let action = on_null(*index);
            quote! {
                if !#sqlm::Column::is_valid(&#column, __row) {
                    #action
                }
            }
        })
        .collect();
    Loop {
        bind,
        values,
        no_nulls,
        checks,
    }
}

/// `__sparkwasm_call`, the batch function of a `#[udf]`.
fn scalar_call(ident: &Ident, sig: &SqlSig) -> TokenStream {
    let sqlm = quote!(::sparkwasm::codegen::sql);
    let ret = &sig.result.ty;
    let parts = loop_parts(sig, |index| match sig.policy {
        NullPolicy::Skip => quote! {
            <#ret as #sqlm::ResultType>::push_null(__out);
            continue;
        },
        NullPolicy::Reject => quote! {
            return ::core::result::Result::Err(
                #sqlm::CallError::Null { argument: #index, row: __row },
            );
        },
    });
    let Loop {
        bind,
        values,
        no_nulls,
        checks,
    } = parts;
    let call = quote!(<#ret as #sqlm::ResultType>::push_result(#ident(#(#values),*), __out););
    let body = match no_nulls {
        Some(no_nulls) => quote! {
            if #no_nulls {
                for __row in 0..__rows {
                    #call
                }
            } else {
                for __row in 0..__rows {
                    #(#checks)*
                    #call
                }
            }
        },
        None => quote! {
            for __row in 0..__rows {
                #call
            }
        },
    };
    quote! {
        fn __sparkwasm_call(
            __call: &mut #sqlm::Call<'_, '_>,
            __out: &mut dyn #sqlm::ResultColumn,
        ) -> ::core::result::Result<(), #sqlm::CallError> {
            let __out = #sqlm::builder::<#ret>(__out)?;
            #bind
            #body
            ::core::result::Result::Ok(())
        }
    }
}

/// `__sparkwasm_init`, `__sparkwasm_update` and `__sparkwasm_finish` of a `#[udaf]`.
fn aggregate_fns(ident: &Ident, sig: &SqlSig, args_ty: &Type, is_tuple: bool) -> TokenStream {
    let sqlm = quote!(::sparkwasm::codegen::sql);
    let ret = &sig.result.ty;
    let parts = loop_parts(sig, |index| match sig.policy {
        NullPolicy::Skip => quote!(continue;),
        NullPolicy::Reject => quote! {
            return ::core::result::Result::Err(
                #sqlm::CallError::Null { argument: #index, row: __row },
            );
        },
    });
    let Loop {
        bind,
        values,
        no_nulls,
        checks,
    } = parts;
    let row_args = if is_tuple {
        if values.len() == 1 {
            quote!((#(#values,)*))
        } else {
            quote!((#(#values),*))
        }
    } else {
        quote!(#(#values)*)
    };
    let update = quote! {
        <_ as ::sparkwasm::Udaf<#args_ty>>::update(__acc, #row_args);
    };
    let body = match no_nulls {
        Some(no_nulls) => quote! {
            if #no_nulls {
                for __row in 0..__rows {
                    #update
                }
            } else {
                for __row in 0..__rows {
                    #(#checks)*
                    #update
                }
            }
        },
        None => quote! {
            for __row in 0..__rows {
                #update
            }
        },
    };
    let span = sig.result.ty.span();
    let finish = quote::quote_spanned! {span=>
        <_ as ::sparkwasm::Udaf<#args_ty>>::finish(__acc)
    };
    quote! {
        fn __sparkwasm_init() -> ::std::boxed::Box<dyn ::core::any::Any> {
            #sqlm::boxed_state(#ident())
        }

        fn __sparkwasm_update(
            __state: &mut dyn ::core::any::Any,
            __call: &mut #sqlm::Call<'_, '_>,
        ) -> ::core::result::Result<(), #sqlm::CallError> {
            let __acc = #sqlm::state_mut(#ident, __state)?;
            #bind
            #body
            ::core::result::Result::Ok(())
        }

        fn __sparkwasm_finish(
            __state: ::std::boxed::Box<dyn ::core::any::Any>,
            __out: &mut dyn #sqlm::ResultColumn,
        ) -> ::core::result::Result<(), #sqlm::CallError> {
            let __acc = #sqlm::state_take(#ident, __state)?;
            let __out = #sqlm::builder::<#ret>(__out)?;
            <#ret as #sqlm::ResultType>::push_result(#finish, __out);
            ::core::result::Result::Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udf(attr: TokenStream, item: TokenStream) -> String {
        expand(FunctionKind::Udf, attr, item).to_string()
    }

    fn udaf(attr: TokenStream, item: TokenStream) -> String {
        expand(FunctionKind::Udaf, attr, item).to_string()
    }

    fn descriptor_of(kind: FunctionKind, attr: &str, src: &str) -> FunctionDescriptor {
        let func: ItemFn = syn::parse_str(src).unwrap();
        let policy = parse_policy(kind, attr.parse().unwrap()).unwrap();
        let sig = match kind {
            FunctionKind::Udaf => check_udaf(&func, policy),
            _ => check_udf(&func, policy),
        }
        .unwrap_or_else(|err| panic!("{src}: {err}"));
        descriptor(&func.sig.ident.to_string(), &sig).0
    }

    fn error_of(kind: FunctionKind, src: &str) -> String {
        let func: ItemFn = syn::parse_str(src).unwrap();
        match kind {
            FunctionKind::Udaf => check_udaf(&func, NullPolicy::Skip).err(),
            _ => check_udf(&func, NullPolicy::Skip).err(),
        }
        .unwrap_or_else(|| panic!("{src} was accepted"))
        .to_string()
    }

    #[test]
    fn udf_descriptors_carry_the_sql_signature() {
        let d = descriptor_of(
            FunctionKind::Udf,
            "",
            "fn f(a: i64, s: Option<&str>, d: sparkwasm::Decimal<10, 2>) -> Option<String> { None }",
        );
        assert_eq!(d.kind, FunctionKind::Udf);
        assert_eq!(d.input, "(i64,Option<&str>,sparkwasm::Decimal<10,2>)");
        assert_eq!(d.output, "Option<String>");
        let sql = d.sql.unwrap();
        assert_eq!(sql.args, ["bigint", "string", "decimal(10,2)"]);
        assert_eq!(sql.nullable_args, [false, true, false]);
        assert_eq!(
            (sql.returns.as_str(), sql.returns_nullable),
            ("string", true)
        );
        assert_eq!(sql.nulls, NullPolicy::Skip);

        let one = descriptor_of(
            FunctionKind::Udf,
            "nulls = \"reject\"",
            "fn f(x: i64) -> i64 { x }",
        );
        assert_eq!((one.input.as_str(), one.output.as_str()), ("i64", "i64"));
        assert_eq!(one.sql.unwrap().nulls, NullPolicy::Reject);

        let none = descriptor_of(FunctionKind::Udf, "", "fn f() -> bool { true }");
        assert_eq!(none.input, "()");
        assert!(none.sql.unwrap().args.is_empty());
    }

    #[test]
    fn every_type_of_the_table_maps_to_its_spark_type() {
        for (rust, spark) in [
            ("bool", "boolean"),
            ("i8", "tinyint"),
            ("i16", "smallint"),
            ("i32", "int"),
            ("i64", "bigint"),
            ("f32", "float"),
            ("f64", "double"),
            ("Date", "date"),
            ("sparkwasm::Timestamp", "timestamp"),
            ("TimestampNtz", "timestamp_ntz"),
            ("Decimal<38, 6>", "decimal(38,6)"),
        ] {
            let d = descriptor_of(
                FunctionKind::Udf,
                "",
                &format!("fn f(x: {rust}) -> Option<{rust}> {{ None }}"),
            );
            let sql = d.sql.unwrap();
            assert_eq!(
                (sql.args[0].as_str(), sql.returns.as_str()),
                (spark, spark),
                "{rust}"
            );
        }
        let d = descriptor_of(
            FunctionKind::Udf,
            "",
            "fn f(s: &str, b: &[u8]) -> Vec<u8> { vec![] }",
        );
        let sql = d.sql.unwrap();
        assert_eq!(sql.args, ["string", "binary"]);
        assert_eq!(sql.returns, "binary");
        assert_eq!(d.input, "(&str,&[u8])");
    }

    #[test]
    fn unknown_and_misplaced_types_list_the_allowed_ones() {
        for (src, detail) in [
            ("fn f(x: u64) -> i64 { 0 }", "`u64` is not a SQL type"),
            (
                "fn f(x: String) -> i64 { 0 }",
                "take a string argument as `&str`",
            ),
            (
                "fn f(x: Vec<u8>) -> i64 { 0 }",
                "take a binary argument as `&[u8]`",
            ),
            (
                "fn f(x: i64) -> &'static str { \"\" }",
                "a result cannot borrow",
            ),
            ("fn f(x: &'static str) -> i64 { 0 }", "not for `'static`"),
            (
                "fn f(x: Option<Option<i64>>) -> i64 { 0 }",
                "Option<Option<T>>",
            ),
            (
                "fn f(x: Decimal<39, 0>) -> i64 { 0 }",
                "precision of 1 to 38",
            ),
            ("fn f(x: Decimal<P, 0>) -> i64 { 0 }", "integer literals"),
            ("fn f(x: &mut str) -> i64 { 0 }", "not `&mut`"),
            ("fn f(x: (i64, i64)) -> i64 { 0 }", "is not a SQL type"),
            ("fn f(x: Vec<i64>) -> i64 { 0 }", "sparkwasm::List<T>"),
            ("fn f(x: i64) -> List<i64> { todo!() }", "return `Vec<T>`"),
        ] {
            let err = error_of(FunctionKind::Udf, src);
            assert!(err.contains(detail), "{src}: {err}");
            assert!(
                err.contains("the argument types") || err.contains("the result types"),
                "{src}: {err}"
            );
        }
        let err = error_of(FunctionKind::Udf, "fn f(x: i64) -> u32 { 0 }");
        assert!(err.contains("String, Vec<u8>"), "{err}");
        let err = error_of(FunctionKind::Udf, "fn f(x: i64) { }");
        assert!(err.contains("returns nothing"), "{err}");
        let err = error_of(FunctionKind::Udf, "fn f<T>(x: i64) -> i64 { x }");
        assert!(err.contains("cannot be generic"), "{err}");
    }

    #[test]
    fn udaf_types_come_from_the_udaf_bound() {
        let d = descriptor_of(
            FunctionKind::Udaf,
            "",
            "fn wm() -> impl Udaf<(Option<f64>, Option<f64>), Output = Option<f64>> { todo!() }",
        );
        assert_eq!(d.kind, FunctionKind::Udaf);
        assert_eq!(
            (d.input.as_str(), d.output.as_str()),
            ("(Option<f64>,Option<f64>)", "Option<f64>")
        );
        let sql = d.sql.unwrap();
        assert_eq!(sql.args, ["double", "double"]);
        assert_eq!(sql.nullable_args, [true, true]);

        let one = descriptor_of(
            FunctionKind::Udaf,
            "nulls = \"reject\"",
            "fn s() -> impl sparkwasm::Udaf<i64, Output = i64> { todo!() }",
        );
        assert_eq!(
            (one.input.as_str(), one.sql.unwrap().nulls),
            ("i64", NullPolicy::Reject)
        );

        let borrowed = descriptor_of(
            FunctionKind::Udaf,
            "",
            "fn c() -> impl for<'a> Udaf<(&'a str,), Output = i64> { todo!() }",
        );
        assert_eq!(borrowed.input, "(&str,)");

        for (src, detail) in [
            (
                "fn c() -> Counter { todo!() }",
                "impl sparkwasm::Udaf<Args, Output = R>",
            ),
            (
                "fn c() -> impl Udaf<i64> { todo!() }",
                "name the result type",
            ),
            (
                "fn c(x: i64) -> impl Udaf<i64, Output = i64> { todo!() }",
                "takes no arguments",
            ),
            (
                "fn c() -> impl Udaf<&str, Output = i64> { todo!() }",
                "for<'a>",
            ),
            (
                "fn c() -> impl Udaf<u16, Output = i64> { todo!() }",
                "`u16` is not a SQL type",
            ),
        ] {
            let err = error_of(FunctionKind::Udaf, src);
            assert!(err.contains(detail), "{src}: {err}");
        }
    }

    #[test]
    fn the_null_policy_is_the_only_argument() {
        let out = udf(
            quote!(nulls = "maybe"),
            quote!(
                fn f(x: i64) -> i64 {
                    x
                }
            ),
        );
        assert!(out.contains("takes one optional argument"), "{out}");
        let out = udf(
            quote!(fast),
            quote!(
                fn f(x: i64) -> i64 {
                    x
                }
            ),
        );
        assert!(out.contains("takes one optional argument"), "{out}");
        let out = udaf(
            quote!(nulls = "reject"),
            quote!(
                fn f() -> impl Udaf<i64, Output = i64> {
                    S
                }
            ),
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn udf_expansion_has_a_check_free_loop_and_a_checked_one() {
        let out = udf(
            quote!(),
            quote!(
                fn add(a: i32, b: Option<i32>) -> i32 {
                    a
                }
            ),
        );
        assert!(out.contains("sparkwasm_fn_add"), "{out}");
        assert!(out.contains("Function :: udf"), "{out}");
        // Only the non-Option argument is checked.
        assert!(out.contains("Column :: has_nulls (& __c0)"), "{out}");
        assert!(!out.contains("has_nulls (& __c1)"), "{out}");
        assert!(out.contains("push_null (__out) ; continue"), "{out}");
        let reject = udf(
            quote!(nulls = "reject"),
            quote!(
                fn must(x: i64) -> i64 {
                    x
                }
            ),
        );
        assert!(
            reject.contains("CallError :: Null { argument : 0usize"),
            "{reject}"
        );
        let nullable = udf(
            quote!(),
            quote!(
                fn o(x: Option<i64>) -> Option<i64> {
                    x
                }
            ),
        );
        assert!(!nullable.contains("has_nulls"), "{nullable}");
    }

    #[test]
    fn arrays_and_structs_reach_the_descriptor_with_struct_holes() {
        let func: ItemFn = syn::parse_str(
            "fn f(p: Point, xs: sparkwasm::List<'_, Option<Point>>, n: List<List<i64>>) \
             -> Option<Vec<Point>> { None }",
        )
        .unwrap();
        let sig = check_udf(&func, NullPolicy::Skip).unwrap();
        let (d, holes) = descriptor("f", &sig);
        assert_eq!(
            d.input,
            "(Point,sparkwasm::List<Option<Point>>,List<List<i64>>)"
        );
        assert_eq!(d.output, "Option<Vec<Point>>");
        let sql = d.sql.unwrap();
        assert_eq!(
            sql.args,
            [
                "$SPARKWASM_STRUCT_0$",
                "array<$SPARKWASM_STRUCT_1$>",
                "array<array<bigint>>"
            ]
        );
        assert_eq!(sql.returns, "array<$SPARKWASM_STRUCT_2$>");
        assert!(sql.returns_nullable);
        assert_eq!(holes.iter().map(spelling).collect::<Vec<_>>(), ["Point"; 3]);

        let out = udf(
            quote!(),
            quote!(
                fn f(p: Point, xs: List<&str>) -> Vec<Point> {
                    vec![p]
                }
            ),
        );
        // The descriptor is concatenated at compile time from the struct's constant.
        assert!(
            out.contains(
                "concat_bytes :: < __SPARKWASM_DESC_LEN > (__SPARKWASM_DESC_PARTS , true)"
            ),
            "{out}"
        );
        assert!(
            out.contains("< Point as :: sparkwasm :: codegen :: sql :: SqlStruct > :: SQL_TYPE"),
            "{out}"
        );
        assert!(out.contains("\"array<string>\""), "{out}");
        // The list argument's elided lifetimes are one named lifetime.
        assert!(
            out.contains(
                "fn f < '__sparkwasm_a1 > (p : Point , xs : List < '__sparkwasm_a1 , & \
                 '__sparkwasm_a1 str >)"
            ),
            "{out}"
        );
        // Without structs, the descriptor stays one literal.
        let flat = udf(
            quote!(),
            quote!(
                fn g(xs: List<i64>) -> Vec<i64> {
                    xs.iter().collect()
                }
            ),
        );
        assert!(!flat.contains("concat_bytes"), "{flat}");
    }

    #[test]
    fn a_bad_signature_keeps_the_item_and_adds_one_compile_error() {
        let out = udf(
            quote!(),
            quote!(
                fn f(x: u64) -> i64 {
                    0
                }
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn f"), "{out}");
        assert!(!out.contains("sparkwasm_fn_f"), "{out}");
    }
}
