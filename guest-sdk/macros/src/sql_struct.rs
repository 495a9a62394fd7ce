//! `#[derive(SqlStruct)]`: a Rust struct with named fields as a Spark `struct<...>`.
//!
//! The derive generates, inside one `const _: () = { ... };` block:
//!
//! * `SqlStruct::SQL_TYPE`, the Spark type string (`struct<a:int,b:string>`): the field
//!   names as in Rust, the field types through the table of `sql_types` (a field of another
//!   derived struct is that struct's constant, concatenated at compile time);
//! * a column view holding one field column view each, and `ArgType` for the struct: a row
//!   is the struct built from its fields' values; the row is invalid (a null argument) when
//!   the struct is null or a non-`Option` field is;
//! * for a struct without a lifetime, a result builder holding one field builder each, and
//!   `ResultType` for the struct. (A struct with a lifetime borrows from the batch: it is an
//!   argument type only.)
//!
//! Generic structs (type or const parameters, more than one lifetime), tuple structs, unit
//! structs, enums and unions are refused with a `compile_error!`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, GenericParam, Lifetime};

use crate::sql_types::{classify, string_tokens, Position};

const EXPECTED: &str = "#[derive(sparkwasm::SqlStruct)] expects a struct with named fields of \
                        SQL types and at most one lifetime parameter";

/// Expands the derive on `input`; errors become one `compile_error!`.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input).and_then(|input| generate(&input)) {
        Ok(tokens) => tokens,
        Err(err) => err.to_compile_error(),
    }
}

fn generate(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fail = |tokens: &dyn quote::ToTokens, detail: &str| {
        syn::Error::new_spanned(tokens, format!("{EXPECTED}; {detail}"))
    };
    let Data::Struct(data) = &input.data else {
        return Err(fail(&input.ident, "enums and unions are not SQL structs"));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(fail(
            &input.ident,
            "a SQL struct names its fields (`struct Point { a: i32, b: String }`)",
        ));
    };
    if named.named.is_empty() {
        return Err(fail(&input.ident, "a SQL struct has at least one field"));
    }
    if let Some(clause) = &input.generics.where_clause {
        return Err(fail(clause, "a SQL struct has no `where` clause"));
    }
    let mut lifetime: Option<Lifetime> = None;
    for param in &input.generics.params {
        match param {
            GenericParam::Lifetime(param) if lifetime.is_none() && param.bounds.is_empty() => {
                lifetime = Some(param.lifetime.clone());
            }
            GenericParam::Lifetime(param) => {
                return Err(fail(
                    param,
                    "a SQL struct has at most one lifetime (the batch's), without bounds",
                ))
            }
            other => {
                return Err(fail(
                    other,
                    "a SQL struct cannot be generic: its Spark type is fixed",
                ))
            }
        }
    }

    let ident = &input.ident;
    // The generated types are as visible as the struct (they appear in its trait impls).
    let vis = &input.vis;
    let sqlm = quote!(::sparkwasm::codegen::sql);
    let view_ty = quote!(::sparkwasm::codegen::abi::columnar::ColumnView);
    let field_idents: Vec<&syn::Ident> = named
        .named
        .iter()
        .filter_map(|f| f.ident.as_ref())
        .collect();
    let field_types: Vec<&syn::Type> = named.named.iter().map(|f| &f.ty).collect();
    let mut holes = Vec::new();
    let mut parts = Vec::new();
    let mut names = Vec::new();
    for field in &named.named {
        let Some(field_ident) = &field.ident else {
            return Err(fail(field, "a SQL struct names its fields"));
        };
        let name = field_ident.to_string().trim_start_matches("r#").to_owned();
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(fail(
                field_ident,
                "Spark field names here are ASCII letters, digits and `_`",
            ));
        }
        let classified = classify(&field.ty, Position::Field, lifetime.is_some())?;
        parts.push(format!("{name}:{}", classified.sql.render(&mut holes)));
        names.push(name);
    }
    let sql_type = string_tokens(&format!("struct<{}>", parts.join(",")), &holes);
    let count = field_idents.len();
    let columns: Vec<syn::Ident> = (0..count).map(|i| format_ident!("__f{}", i)).collect();
    let views: Vec<syn::Ident> = (0..count).map(|i| format_ident!("__v{}", i)).collect();
    let scratches: Vec<syn::Ident> = (0..count).map(|i| format_ident!("__s{}", i)).collect();

    // The batch's lifetime: the struct's own, or a fresh one for an owned struct.
    let (struct_ty, batch) = match &lifetime {
        Some(lifetime) => (quote!(#ident<#lifetime>), lifetime.clone()),
        None => (
            quote!(#ident),
            Lifetime::new("'__sparkwasm_batch", Span::call_site()),
        ),
    };
    let impl_generics = match &lifetime {
        Some(lifetime) => quote!(<#lifetime>),
        None => quote!(),
    };

    let argument = quote! {
        #[doc(hidden)]
        #[allow(unreachable_pub, missing_docs, non_camel_case_types)]
        #vis struct __SparkwasmStructColumn<#batch> {
            __len: usize,
            __validity: #sqlm::Validity<#batch>,
            __field_nulls: bool,
            #(#columns: <#field_types as #sqlm::ArgType<#batch>>::Column,)*
        }

        impl<#batch> ::core::clone::Clone for __SparkwasmStructColumn<#batch> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<#batch> ::core::marker::Copy for __SparkwasmStructColumn<#batch> {}

        impl<#batch> #sqlm::ArgType<#batch> for #struct_ty {
            type Column = __SparkwasmStructColumn<#batch>;

            fn column(
                __view: &#batch #view_ty<'_>,
                __scratch: &#batch mut #sqlm::Scratch,
            ) -> ::core::result::Result<Self::Column, ::std::string::String> {
                let (__views, __scratches, __validity) =
                    #sqlm::struct_parts(__view, __scratch, #count)?;
                let ([#(#views),*], [#(#scratches),*]) = (__views, __scratches) else {
                    return ::core::result::Result::Err(::std::string::String::from(
                        "a struct column of another field count",
                    ));
                };
                #(
                    let #columns =
                        <#field_types as #sqlm::ArgType<#batch>>::column(#views, #scratches)
                            .map_err(|__message| #sqlm::field_error(#names, __message))?;
                )*
                ::core::result::Result::Ok(__SparkwasmStructColumn {
                    __len: __view.len(),
                    __validity,
                    __field_nulls: false #(|| #sqlm::Column::has_nulls(&#columns))*,
                    #(#columns,)*
                })
            }
        }

        impl<#batch> #sqlm::Column for __SparkwasmStructColumn<#batch> {
            type Item = #struct_ty;

            #[inline]
            fn len(&self) -> usize {
                self.__len
            }

            #[inline]
            fn has_nulls(&self) -> bool {
                self.__validity.has_nulls() || self.__field_nulls
            }

            #[inline]
            fn is_valid(&self, __row: usize) -> bool {
                self.__validity.is_valid(__row)
                    && (!self.__field_nulls
                        || (true #(&& #sqlm::Column::is_valid(&self.#columns, __row))*))
            }

            #[inline]
            fn value(&self, __row: usize) -> #struct_ty {
                #ident {
                    #(#field_idents: #sqlm::Column::value(&self.#columns, __row),)*
                }
            }
        }
    };

    let result = if lifetime.is_some() {
        quote!()
    } else {
        let indices = 0..count;
        quote! {
            #[doc(hidden)]
            #[allow(unreachable_pub, missing_docs, non_camel_case_types)]
            #vis struct __SparkwasmStructBuilder {
                __rows: #sqlm::StructRows,
                #(#columns: <#field_types as #sqlm::ResultType>::Builder,)*
            }

            impl #sqlm::ResultColumn for __SparkwasmStructBuilder {
                fn clear(&mut self) {
                    self.__rows.clear();
                    #(#sqlm::ResultColumn::clear(&mut self.#columns);)*
                }

                fn len(&self) -> usize {
                    self.__rows.len()
                }

                fn node(&self) -> ::sparkwasm::codegen::abi::columnar::NodeParts<'_> {
                    self.__rows.node(#count)
                }

                fn error(&self) -> ::core::option::Option<&str> {
                    ::core::option::Option::None
                        #(.or_else(|| #sqlm::ResultColumn::error(&self.#columns)))*
                }

                fn children(&self) -> usize {
                    #count
                }

                fn child(
                    &self,
                    __index: usize,
                ) -> ::core::option::Option<&dyn #sqlm::ResultColumn> {
                    match __index {
                        #(#indices => ::core::option::Option::Some(&self.#columns),)*
                        _ => ::core::option::Option::None,
                    }
                }

                fn as_any_mut(&mut self) -> &mut dyn ::core::any::Any {
                    self
                }
            }

            impl #sqlm::ResultType for #ident {
                type Builder = __SparkwasmStructBuilder;

                fn new_builder() -> Self::Builder {
                    __SparkwasmStructBuilder {
                        __rows: #sqlm::StructRows::new(),
                        #(#columns: <#field_types as #sqlm::ResultType>::new_builder(),)*
                    }
                }

                #[inline]
                fn push_result(self, __out: &mut Self::Builder) {
                    let #ident { #(#field_idents: #columns),* } = self;
                    __out.__rows.push(true);
                    #(#sqlm::ResultType::push_result(#columns, &mut __out.#columns);)*
                }

                #[inline]
                fn push_null(__out: &mut Self::Builder) {
                    __out.__rows.push(false);
                    #(<#field_types as #sqlm::ResultType>::push_null(&mut __out.#columns);)*
                }
            }
        }
    };

    Ok(quote! {
        const _: () = {
            impl #impl_generics #sqlm::SqlStruct for #struct_ty {
                const SQL_TYPE: &'static str = #sql_type;
            }

            #argument
            #result
        };
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn expanded(input: TokenStream) -> String {
        derive(input).to_string()
    }

    #[test]
    fn the_type_string_uses_the_rust_names_and_constants_for_nested_structs() {
        let out = expanded(quote! {
            struct Point { a: i32, r#type: Option<String>, tags: Vec<Option<&'static str>> }
        });
        // `&'static str` is refused; the rest is read.
        assert!(out.contains("compile_error"), "{out}");
        let out = expanded(quote! {
            struct Point { a: i32, r#type: Option<String>, tags: Vec<Option<String>> }
        });
        assert!(
            out.contains("\"struct<a:int,type:string,tags:array<string>>\""),
            "{out}"
        );
        assert!(out.contains("impl :: sparkwasm :: codegen :: sql :: ResultType for Point"));
        let out = expanded(quote! {
            struct Line { from: Point, to: Option<geo::Point>, name: String }
        });
        assert!(out.contains("\"struct<from:\""), "{out}");
        assert!(
            out.contains("< Point as :: sparkwasm :: codegen :: sql :: SqlStruct > :: SQL_TYPE"),
            "{out}"
        );
        assert!(out.contains("\",to:\""), "{out}");
        assert!(out.contains("\",name:string>\""), "{out}");
    }

    #[test]
    fn a_borrowing_struct_is_an_argument_type_only() {
        let out = expanded(quote! {
            struct PointRef<'a> { a: i32, b: &'a str, xs: sparkwasm::List<'a, i64> }
        });
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("\"struct<a:int,b:string,xs:array<bigint>>\""),
            "{out}"
        );
        assert!(out.contains("ArgType < 'a > for PointRef < 'a >"), "{out}");
        assert!(!out.contains("ResultType for"), "{out}");
    }

    #[test]
    fn what_is_no_sql_struct_is_refused() {
        for (src, detail) in [
            (
                quote!(
                    struct P(i32, i32);
                ),
                "names its fields",
            ),
            (
                quote!(
                    struct P;
                ),
                "names its fields",
            ),
            (
                quote!(
                    struct P {}
                ),
                "at least one field",
            ),
            (
                quote!(
                    enum P {
                        A,
                    }
                ),
                "enums and unions",
            ),
            (
                quote!(
                    struct P<T> {
                        a: T,
                    }
                ),
                "cannot be generic",
            ),
            (
                quote!(
                    struct P<'a, 'b> {
                        a: &'a str,
                        b: &'b str,
                    }
                ),
                "at most one lifetime",
            ),
            (
                quote!(
                    struct P {
                        a: u64,
                    }
                ),
                "`u64` is not a SQL type",
            ),
            (
                quote!(
                    struct P {
                        a: i32,
                    }
                ),
                "",
            ),
        ] {
            let out = expanded(src.clone());
            if detail.is_empty() {
                assert!(!out.contains("compile_error"), "{src}: {out}");
            } else {
                assert!(out.contains("compile_error"), "{src}: {out}");
                assert!(out.contains(detail), "{src}: {out}");
            }
        }
    }
}
