"""The eight supported languages: how to load their official grammar wheels, which LSP language ids and
file extensions map to them, and the node types and queries the context builder reads.

Grammars load lazily (importing a wheel costs a few milliseconds) and are cached per process. A
language that is not listed here is "unknown": documents in it are plain text, never an error.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import PurePath

from tree_sitter import Language, Parser, Query


@dataclass(frozen=True)
class LanguageSpec:
    name: str  # our name, also the Markdown fence tag
    module: str  # the grammar wheel's module
    loader: str  # the function in `module` that returns the language pointer
    extensions: tuple[str, ...]
    lsp_ids: tuple[str, ...]
    # Nodes whose header (signature and docstring) is shown as an enclosing scope.
    scope_types: frozenset[str]
    # Top-level nodes that make up the file's imports.
    import_types: frozenset[str]
    # Nodes in which the cursor means "inside a string or comment" (single-line completion).
    string_types: frozenset[str]
    comment_types: frozenset[str]
    # Nodes that name something; the identifiers near the cursor are looked up as definitions.
    identifier_types: tuple[str, ...]
    # Captures @name and @definition.<kind> for every definition the index and builder know. Patterns
    # are not anchored at the root (so a definition can be matched from its own node); "constant"
    # definitions count only at the top level, which the scan checks.
    definitions_query: str
    line_comment: str
    block_opener: str  # ":" for Python, "{" elsewhere
    indent_unit: str = "    "


_PY_DEFS = """
(function_definition name: (identifier) @name) @definition.function
(class_definition name: (identifier) @name) @definition.class
(expression_statement (assignment left: (identifier) @name)) @definition.constant
"""

_JS_DEFS = """
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_declaration name: (_) @name) @definition.class
(method_definition name: (property_identifier) @name) @definition.method
(lexical_declaration (variable_declarator name: (identifier) @name
  value: [(arrow_function) (function_expression)])) @definition.function
"""

_TS_DEFS = _JS_DEFS + """
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(function_signature name: (identifier) @name) @definition.function
(method_signature name: (property_identifier) @name) @definition.method
"""

_GO_DEFS = """
(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method
(type_declaration (type_spec name: (type_identifier) @name)) @definition.type
(const_declaration (const_spec name: (identifier) @name)) @definition.constant
(var_declaration (var_spec name: (identifier) @name)) @definition.constant
"""

_RUST_DEFS = """
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.type
(enum_item name: (type_identifier) @name) @definition.type
(union_item name: (type_identifier) @name) @definition.type
(trait_item name: (type_identifier) @name) @definition.interface
(type_item name: (type_identifier) @name) @definition.type
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(mod_item name: (identifier) @name) @definition.module
(macro_definition name: (identifier) @name) @definition.function
"""

_JAVA_DEFS = """
(class_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.type
(record_declaration name: (identifier) @name) @definition.class
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
"""

_C_DEFS = """
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition declarator: (pointer_declarator
  declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(struct_specifier name: (type_identifier) @name body: (_)) @definition.type
(enum_specifier name: (type_identifier) @name body: (_)) @definition.type
(union_specifier name: (type_identifier) @name body: (_)) @definition.type
(type_definition declarator: (type_identifier) @name) @definition.type
(preproc_def name: (identifier) @name) @definition.constant
(preproc_function_def name: (identifier) @name) @definition.function
"""

_CPP_DEFS = _C_DEFS + """
(function_definition declarator: (function_declarator
  declarator: (qualified_identifier name: (identifier) @name))) @definition.method
(function_definition declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(namespace_definition name: (namespace_identifier) @name) @definition.module
"""

_JS_SCOPES = frozenset({
    "function_declaration", "generator_function_declaration", "function_expression", "arrow_function",
    "method_definition", "class_declaration", "class",
})
_JS_STRINGS = frozenset({"string", "template_string", "regex"})

LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in [
        LanguageSpec(
            name="python", module="tree_sitter_python", loader="language",
            extensions=(".py", ".pyi", ".pyw"), lsp_ids=("python",),
            scope_types=frozenset({"function_definition", "class_definition"}),
            import_types=frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
            string_types=frozenset({"string", "string_content", "concatenated_string"}),
            comment_types=frozenset({"comment"}),
            identifier_types=("identifier",),
            definitions_query=_PY_DEFS, line_comment="#", block_opener=":",
        ),
        LanguageSpec(
            name="javascript", module="tree_sitter_javascript", loader="language",
            extensions=(".js", ".mjs", ".cjs", ".jsx"), lsp_ids=("javascript", "javascriptreact"),
            scope_types=_JS_SCOPES,
            import_types=frozenset({"import_statement"}),
            string_types=_JS_STRINGS, comment_types=frozenset({"comment"}),
            identifier_types=("identifier", "property_identifier"),
            definitions_query=_JS_DEFS, line_comment="//", block_opener="{", indent_unit="  ",
        ),
        LanguageSpec(
            name="typescript", module="tree_sitter_typescript", loader="language_typescript",
            extensions=(".ts", ".mts", ".cts"), lsp_ids=("typescript",),
            scope_types=_JS_SCOPES | {"abstract_class_declaration", "interface_declaration"},
            import_types=frozenset({"import_statement"}),
            string_types=_JS_STRINGS, comment_types=frozenset({"comment"}),
            identifier_types=("identifier", "property_identifier", "type_identifier"),
            definitions_query=_TS_DEFS, line_comment="//", block_opener="{", indent_unit="  ",
        ),
        LanguageSpec(
            name="tsx", module="tree_sitter_typescript", loader="language_tsx",
            extensions=(".tsx",), lsp_ids=("typescriptreact",),
            scope_types=_JS_SCOPES | {"abstract_class_declaration", "interface_declaration"},
            import_types=frozenset({"import_statement"}),
            string_types=_JS_STRINGS, comment_types=frozenset({"comment"}),
            identifier_types=("identifier", "property_identifier", "type_identifier"),
            definitions_query=_TS_DEFS, line_comment="//", block_opener="{", indent_unit="  ",
        ),
        LanguageSpec(
            name="go", module="tree_sitter_go", loader="language",
            extensions=(".go",), lsp_ids=("go",),
            scope_types=frozenset({"function_declaration", "method_declaration", "func_literal", "type_declaration"}),
            import_types=frozenset({"package_clause", "import_declaration"}),
            string_types=frozenset({"interpreted_string_literal", "raw_string_literal", "rune_literal"}),
            comment_types=frozenset({"comment"}),
            identifier_types=("identifier", "type_identifier", "field_identifier"),
            definitions_query=_GO_DEFS, line_comment="//", block_opener="{", indent_unit="\t",
        ),
        LanguageSpec(
            name="rust", module="tree_sitter_rust", loader="language",
            extensions=(".rs",), lsp_ids=("rust",),
            scope_types=frozenset({"function_item", "impl_item", "trait_item", "mod_item", "struct_item",
                                   "enum_item", "closure_expression"}),
            import_types=frozenset({"use_declaration", "extern_crate_declaration"}),
            string_types=frozenset({"string_literal", "raw_string_literal", "char_literal"}),
            comment_types=frozenset({"line_comment", "block_comment"}),
            identifier_types=("identifier", "type_identifier", "field_identifier"),
            definitions_query=_RUST_DEFS, line_comment="//", block_opener="{",
        ),
        LanguageSpec(
            name="java", module="tree_sitter_java", loader="language",
            extensions=(".java",), lsp_ids=("java",),
            scope_types=frozenset({"class_declaration", "interface_declaration", "enum_declaration",
                                   "record_declaration", "method_declaration", "constructor_declaration",
                                   "lambda_expression"}),
            import_types=frozenset({"package_declaration", "import_declaration"}),
            string_types=frozenset({"string_literal", "character_literal", "text_block"}),
            comment_types=frozenset({"line_comment", "block_comment"}),
            identifier_types=("identifier", "type_identifier"),
            definitions_query=_JAVA_DEFS, line_comment="//", block_opener="{",
        ),
        LanguageSpec(
            name="c", module="tree_sitter_c", loader="language",
            extensions=(".c", ".h"), lsp_ids=("c",),
            scope_types=frozenset({"function_definition", "struct_specifier", "enum_specifier"}),
            import_types=frozenset({"preproc_include"}),
            string_types=frozenset({"string_literal", "char_literal", "system_lib_string"}),
            comment_types=frozenset({"comment"}),
            identifier_types=("identifier", "type_identifier", "field_identifier"),
            definitions_query=_C_DEFS, line_comment="//", block_opener="{",
        ),
        LanguageSpec(
            name="cpp", module="tree_sitter_cpp", loader="language",
            extensions=(".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp"),
            lsp_ids=("cpp", "cuda-cpp"),
            scope_types=frozenset({"function_definition", "class_specifier", "struct_specifier",
                                   "namespace_definition", "lambda_expression"}),
            import_types=frozenset({"preproc_include", "using_declaration"}),
            string_types=frozenset({"string_literal", "raw_string_literal", "char_literal", "system_lib_string"}),
            comment_types=frozenset({"comment"}),
            identifier_types=("identifier", "type_identifier", "field_identifier", "namespace_identifier"),
            definitions_query=_CPP_DEFS, line_comment="//", block_opener="{",
        ),
    ]
}

_BY_LSP_ID = {lsp_id: spec.name for spec in LANGUAGES.values() for lsp_id in spec.lsp_ids}
_BY_EXTENSION = {ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions}


def language_for(language_id: str | None = None, path: str | None = None) -> str | None:
    """Our language name for an LSP language id, else for a file path's extension; None if unknown."""
    if language_id and language_id in _BY_LSP_ID:
        return _BY_LSP_ID[language_id]
    if language_id in LANGUAGES:
        return language_id
    if path:
        return _BY_EXTENSION.get(PurePath(path).suffix.lower())
    return None


@functools.cache
def ts_language(name: str) -> Language:
    """The tree-sitter Language for one of ours (raises KeyError for an unknown name)."""
    spec = LANGUAGES[name]
    module = importlib.import_module(spec.module)
    return Language(getattr(module, spec.loader)())


def new_parser(name: str) -> Parser:
    """A fresh parser (parsers are not thread-safe: one per document or per thread)."""
    return Parser(ts_language(name))


@functools.cache
def definitions_query(name: str) -> Query:
    return Query(ts_language(name), LANGUAGES[name].definitions_query)


@functools.cache
def identifiers_query(name: str) -> Query:
    types = " ".join(f"({t})" for t in LANGUAGES[name].identifier_types)
    return Query(ts_language(name), f"[{types}] @id")
