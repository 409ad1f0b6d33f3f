/**
 * Languages the chunker knows: file name → language id, where each grammar's .wasm lives, and per
 * grammar the node types that are definitions (with their ChunkKind), the wrapper nodes whose
 * first line belongs to the definition inside them (`export`, decorators, `template <…>`), and the
 * comment/decorator nodes that attach to the definition right below them.
 *
 * Definitions are matched by node type rather than by query: one table per grammar, read top-down
 * by treeSitter.ts. Languages without a grammar (Markdown, JSON, YAML, …) still get an id here, so
 * chunks carry it; they are cut into line windows (Markdown by headings).
 *
 * This file is over 500 lines because it is one table, a row per language: split across files,
 * the rules one compares side by side (how Go and Rust name a method) would be apart.
 */
import * as path from 'node:path';
import type { Node } from 'web-tree-sitter';

export type ChunkKind =
  | 'function'
  | 'method'
  | 'class'
  | 'struct'
  | 'interface'
  | 'enum'
  | 'impl'
  | 'trait'
  | 'module'
  | 'type'
  | 'section' // top-level code between definitions; a Markdown heading's section
  | 'window'; // a run of lines of a file without a grammar, or whose parse failed

/** Where one .wasm file comes from: an npm package and the file's path inside it. */
export interface WasmFile {
  package: string;
  file: string;
}

/** The web-tree-sitter runtime; a `wasmDir` must hold it under this file name. */
export const RUNTIME_WASM: WasmFile = { package: 'web-tree-sitter', file: 'tree-sitter.wasm' };

/**
 * Grammar .wasm per language id. A packaging script copies `node_modules/<package>/<file>` for each
 * entry (and RUNTIME_WASM) into one flat folder and passes it as `wasmDir`; the base names differ.
 */
export const GRAMMAR_WASM_FILES: Readonly<Record<string, WasmFile>> = {
  typescript: { package: 'tree-sitter-typescript', file: 'tree-sitter-typescript.wasm' },
  tsx: { package: 'tree-sitter-typescript', file: 'tree-sitter-tsx.wasm' },
  javascript: { package: 'tree-sitter-javascript', file: 'tree-sitter-javascript.wasm' },
  python: { package: 'tree-sitter-python', file: 'tree-sitter-python.wasm' },
  go: { package: 'tree-sitter-go', file: 'tree-sitter-go.wasm' },
  rust: { package: 'tree-sitter-rust', file: 'tree-sitter-rust.wasm' },
  java: { package: 'tree-sitter-java', file: 'tree-sitter-java.wasm' },
  c: { package: 'tree-sitter-c', file: 'tree-sitter-c.wasm' },
  cpp: { package: 'tree-sitter-cpp', file: 'tree-sitter-cpp.wasm' },
  csharp: { package: 'tree-sitter-c-sharp', file: 'tree-sitter-c_sharp.wasm' },
  ruby: { package: 'tree-sitter-ruby', file: 'tree-sitter-ruby.wasm' },
  php: { package: 'tree-sitter-php', file: 'tree-sitter-php.wasm' },
  bash: { package: 'tree-sitter-bash', file: 'tree-sitter-bash.wasm' },
  scala: { package: 'tree-sitter-scala', file: 'tree-sitter-scala.wasm' },
  kotlin: { package: '@tree-sitter-grammars/tree-sitter-kotlin', file: 'tree-sitter-kotlin.wasm' },
  lua: { package: '@tree-sitter-grammars/tree-sitter-lua', file: 'tree-sitter-lua.wasm' },
  zig: { package: '@tree-sitter-grammars/tree-sitter-zig', file: 'tree-sitter-zig.wasm' },
};

const EXTENSIONS: Readonly<Record<string, string>> = {
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'tsx',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript',
  '.py': 'python',
  '.pyi': 'python',
  '.pyw': 'python',
  '.go': 'go',
  '.rs': 'rust',
  '.java': 'java',
  '.c': 'c',
  '.h': 'c',
  '.cc': 'cpp',
  '.cpp': 'cpp',
  '.cxx': 'cpp',
  '.c++': 'cpp',
  '.hpp': 'cpp',
  '.hh': 'cpp',
  '.hxx': 'cpp',
  '.h++': 'cpp',
  '.ipp': 'cpp',
  '.inl': 'cpp',
  '.cs': 'csharp',
  '.rb': 'ruby',
  '.rake': 'ruby',
  '.gemspec': 'ruby',
  '.php': 'php',
  '.phtml': 'php',
  '.sh': 'bash',
  '.bash': 'bash',
  '.scala': 'scala',
  '.sc': 'scala',
  '.kt': 'kotlin',
  '.kts': 'kotlin',
  '.lua': 'lua',
  '.zig': 'zig',
  // No grammar: line windows (Markdown by headings).
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.mdx': 'markdown',
  '.json': 'json',
  '.jsonc': 'json',
  '.json5': 'json',
  '.yml': 'yaml',
  '.yaml': 'yaml',
  '.toml': 'toml',
  '.xml': 'xml',
  '.html': 'html',
  '.htm': 'html',
  '.vue': 'vue',
  '.svelte': 'svelte',
  '.css': 'css',
  '.scss': 'scss',
  '.less': 'less',
  '.sql': 'sql',
  '.graphql': 'graphql',
  '.gql': 'graphql',
  '.proto': 'protobuf',
  '.swift': 'swift',
  '.m': 'objective-c',
  '.mm': 'objective-c',
  '.dart': 'dart',
  '.ex': 'elixir',
  '.exs': 'elixir',
  '.hs': 'haskell',
  '.ml': 'ocaml',
  '.r': 'r',
  '.pl': 'perl',
  '.pm': 'perl',
  '.ps1': 'powershell',
  '.zsh': 'shell',
  '.fish': 'shell',
  '.txt': 'text',
  '.rst': 'restructuredtext',
  '.adoc': 'asciidoc',
  '.tex': 'latex',
  '.ini': 'ini',
  '.cfg': 'ini',
  '.conf': 'ini',
  '.properties': 'properties',
  '.env': 'dotenv',
  '.gradle': 'groovy',
  '.groovy': 'groovy',
  '.tf': 'terraform',
  '.hcl': 'terraform',
  '.cmake': 'cmake',
};

const FILE_NAMES: Readonly<Record<string, string>> = {
  Dockerfile: 'dockerfile',
  Makefile: 'makefile',
  GNUmakefile: 'makefile',
  'CMakeLists.txt': 'cmake',
  Rakefile: 'ruby',
  Gemfile: 'ruby',
  Jenkinsfile: 'groovy',
  '.bashrc': 'bash',
  '.bash_profile': 'bash',
  '.profile': 'bash',
};

/** Language id of a path by its name or extension (`null` when unknown: cut into windows as 'text'). */
export function languageOf(relPath: string): string | null {
  const base = path.posix.basename(relPath.replace(/\\/g, '/'));
  const byName = FILE_NAMES[base];
  if (byName !== undefined) return byName;
  if (base.startsWith('Dockerfile.') || base.endsWith('.dockerfile')) return 'dockerfile';
  const ext = path.posix.extname(base).toLowerCase();
  return EXTENSIONS[ext] ?? null;
}

const HASH_COMMENT = new Set([
  'python',
  'ruby',
  'bash',
  'shell',
  'yaml',
  'toml',
  'perl',
  'r',
  'dockerfile',
  'makefile',
  'cmake',
  'ini',
  'properties',
  'dotenv',
  'elixir',
  'powershell',
  'terraform',
  'graphql',
]);
const DASH_COMMENT = new Set(['lua', 'sql', 'haskell']);
const NO_COMMENT = new Set(['markdown', 'text', 'restructuredtext', 'asciidoc', 'json', 'xml', 'html']);

/** Line-comment token used for the embedText header ('' for prose and data formats). */
export function commentToken(language: string): string {
  if (HASH_COMMENT.has(language)) return '#';
  if (DASH_COMMENT.has(language)) return '--';
  if (NO_COMMENT.has(language)) return '';
  return '//';
}

/**
 * A definition node type. `kind` may be a function of the node (and the source) that returns null
 * when this node is not a definition after all (`const x = 1` vs `const f = () => …`).
 */
export interface DefRule {
  kind: ChunkKind | ((node: Node, source: string) => ChunkKind | null);
  /** Look for nested definitions inside (methods of a class). Functions are not descended. */
  container?: boolean;
  /** The node that holds the name, or the name itself; default: field `name`, then a declarator chain. */
  name?: (node: Node) => Node | string | null;
}

export interface LanguageSpec {
  defs: Readonly<Record<string, DefRule>>;
  /** Node types whose range starts the definition directly inside them. */
  wrappers: ReadonlySet<string>;
  /** Own-line nodes of these types, directly above a definition, join its chunk. */
  attach: ReadonlySet<string>;
}

// ---- name and kind helpers -------------------------------------------------------------------

function field(n: Node, name: string): Node | null {
  return n.childForFieldName(name);
}

function firstNamed(n: Node, types: readonly string[]): Node | null {
  for (let i = 0; i < n.namedChildCount; i++) {
    const c = n.namedChild(i);
    if (c !== null && types.includes(c.type)) return c;
  }
  return null;
}

/** Only a definition when it has a body (`struct s { … }`, not `struct s *p`). */
function withBody(kind: ChunkKind): (n: Node) => ChunkKind | null {
  return (n) => (field(n, 'body') !== null ? kind : null);
}

const JS_FUNCTION_VALUES = new Set(['arrow_function', 'function_expression', 'function', 'generator_function']);
const JS_CLASS_VALUES = new Set(['class', 'class_expression']);

/** `const f = () => …` / `const C = class …`: one declarator whose value is a function or class. */
function jsVariableKind(n: Node): ChunkKind | null {
  let decl: Node | null = null;
  for (let i = 0; i < n.namedChildCount; i++) {
    const c = n.namedChild(i);
    if (c?.type !== 'variable_declarator') continue;
    if (decl !== null) return null;
    decl = c;
  }
  const value = decl === null ? null : field(decl, 'value');
  if (value === null) return null;
  if (JS_FUNCTION_VALUES.has(value.type)) return 'function';
  if (JS_CLASS_VALUES.has(value.type)) return 'class';
  return null;
}

function jsVariableName(n: Node): Node | null {
  const decl = firstNamed(n, ['variable_declarator']);
  return decl === null ? null : field(decl, 'name');
}

function goTypeSpec(n: Node): Node | null {
  return firstNamed(n, ['type_spec', 'type_alias']);
}

function goTypeKind(n: Node): ChunkKind {
  const t = goTypeSpec(n)?.childForFieldName('type')?.type;
  if (t === 'struct_type') return 'struct';
  if (t === 'interface_type') return 'interface';
  return 'type';
}

/** C `typedef struct { … } name;`: a struct/enum definition when the type has a body. */
function cTypedefKind(n: Node): ChunkKind | null {
  const t = field(n, 'type');
  if (t === null || field(t, 'body') === null) return null;
  return t.type === 'enum_specifier' ? 'enum' : 'struct';
}

function cTypedefName(n: Node): Node | null {
  return field(n, 'declarator');
}

/** Kotlin `class` covers classes, interfaces and enum classes: read the words before the name. */
function kotlinClassKind(n: Node, source: string): ChunkKind {
  const name = field(n, 'name');
  const head = source.slice(n.startIndex, name === null ? n.startIndex + 200 : name.startIndex);
  if (/\binterface\b/.test(head)) return 'interface';
  if (/\benum\b/.test(head)) return 'enum';
  return 'class';
}

const ZIG_CONTAINERS: Readonly<Record<string, ChunkKind>> = {
  struct_declaration: 'struct',
  union_declaration: 'struct',
  opaque_declaration: 'struct',
  enum_declaration: 'enum',
  error_set_declaration: 'enum',
};

/** Zig `const Name = struct { … };`. */
function zigVariableKind(n: Node): ChunkKind | null {
  for (let i = 0; i < n.namedChildCount; i++) {
    const k = ZIG_CONTAINERS[n.namedChild(i)?.type ?? ''];
    if (k !== undefined) return k;
  }
  return null;
}

function zigVariableName(n: Node): Node | null {
  return firstNamed(n, ['identifier']);
}

function zigTestName(n: Node): Node | string | null {
  const s = firstNamed(n, ['string']);
  return s === null ? 'test' : `test ${s.text}`;
}

function rustImplName(n: Node): Node | null {
  return field(n, 'type');
}

// ---- per-grammar tables ----------------------------------------------------------------------

const COMMENTS = ['comment', 'line_comment', 'block_comment', 'doc_comment'];

const TS_DEFS: Record<string, DefRule> = {
  function_declaration: { kind: 'function' },
  generator_function_declaration: { kind: 'function' },
  method_definition: { kind: 'method' },
  class_declaration: { kind: 'class', container: true },
  abstract_class_declaration: { kind: 'class', container: true },
  interface_declaration: { kind: 'interface', container: true },
  enum_declaration: { kind: 'enum' },
  type_alias_declaration: { kind: 'type' },
  internal_module: { kind: 'module', container: true },
  module: { kind: 'module', container: true },
  lexical_declaration: { kind: jsVariableKind, name: jsVariableName },
  variable_declaration: { kind: jsVariableKind, name: jsVariableName },
};

const JS_DEFS: Record<string, DefRule> = {
  function_declaration: { kind: 'function' },
  generator_function_declaration: { kind: 'function' },
  method_definition: { kind: 'method' },
  class_declaration: { kind: 'class', container: true },
  lexical_declaration: { kind: jsVariableKind, name: jsVariableName },
  variable_declaration: { kind: jsVariableKind, name: jsVariableName },
};

const JS_WRAPPERS = new Set(['export_statement', 'ambient_declaration']);
const JS_ATTACH = new Set([...COMMENTS, 'decorator']);

const CPP_DEFS: Record<string, DefRule> = {
  function_definition: { kind: 'function' },
  class_specifier: { kind: withBody('class'), container: true },
  struct_specifier: { kind: withBody('struct'), container: true },
  union_specifier: { kind: withBody('struct'), container: true },
  enum_specifier: { kind: withBody('enum') },
  namespace_definition: { kind: 'module', container: true },
  concept_definition: { kind: 'type' },
  type_definition: { kind: cTypedefKind, name: cTypedefName },
};

const C_DEFS: Record<string, DefRule> = {
  function_definition: { kind: 'function' },
  struct_specifier: { kind: withBody('struct') },
  union_specifier: { kind: withBody('struct') },
  enum_specifier: { kind: withBody('enum') },
  type_definition: { kind: cTypedefKind, name: cTypedefName },
};

export const LANGUAGE_SPECS: Readonly<Record<string, LanguageSpec>> = {
  typescript: { defs: TS_DEFS, wrappers: JS_WRAPPERS, attach: JS_ATTACH },
  tsx: { defs: TS_DEFS, wrappers: JS_WRAPPERS, attach: JS_ATTACH },
  javascript: { defs: JS_DEFS, wrappers: JS_WRAPPERS, attach: JS_ATTACH },
  python: {
    defs: {
      function_definition: { kind: 'function' },
      class_definition: { kind: 'class', container: true },
    },
    wrappers: new Set(['decorated_definition']),
    attach: new Set(['comment']),
  },
  go: {
    defs: {
      function_declaration: { kind: 'function' },
      method_declaration: { kind: 'method' },
      type_declaration: { kind: goTypeKind, name: (n) => goTypeSpec(n)?.childForFieldName('name') ?? null },
    },
    wrappers: new Set(),
    attach: new Set(['comment']),
  },
  rust: {
    defs: {
      function_item: { kind: 'function' },
      function_signature_item: { kind: 'function' },
      struct_item: { kind: 'struct' },
      union_item: { kind: 'struct' },
      enum_item: { kind: 'enum' },
      trait_item: { kind: 'trait', container: true },
      impl_item: { kind: 'impl', container: true, name: rustImplName },
      mod_item: { kind: 'module', container: true },
      type_item: { kind: 'type' },
      macro_definition: { kind: 'function' },
    },
    wrappers: new Set(),
    attach: new Set([...COMMENTS, 'attribute_item']),
  },
  java: {
    defs: {
      class_declaration: { kind: 'class', container: true },
      record_declaration: { kind: 'class', container: true },
      interface_declaration: { kind: 'interface', container: true },
      annotation_type_declaration: { kind: 'interface', container: true },
      enum_declaration: { kind: 'enum', container: true },
      method_declaration: { kind: 'method' },
      constructor_declaration: { kind: 'method' },
      compact_constructor_declaration: { kind: 'method' },
    },
    wrappers: new Set(),
    attach: new Set(COMMENTS),
  },
  c: { defs: C_DEFS, wrappers: new Set(), attach: new Set(COMMENTS) },
  cpp: { defs: CPP_DEFS, wrappers: new Set(['template_declaration']), attach: new Set(COMMENTS) },
  csharp: {
    defs: {
      class_declaration: { kind: 'class', container: true },
      record_declaration: { kind: 'class', container: true },
      struct_declaration: { kind: 'struct', container: true },
      interface_declaration: { kind: 'interface', container: true },
      enum_declaration: { kind: 'enum' },
      namespace_declaration: { kind: 'module', container: true },
      file_scoped_namespace_declaration: { kind: 'module', container: true },
      method_declaration: { kind: 'method' },
      constructor_declaration: { kind: 'method' },
      destructor_declaration: { kind: 'method' },
      operator_declaration: { kind: 'method' },
      conversion_operator_declaration: { kind: 'method' },
      local_function_statement: { kind: 'function' },
    },
    wrappers: new Set(),
    attach: new Set(COMMENTS),
  },
  ruby: {
    defs: {
      method: { kind: 'function' },
      singleton_method: { kind: 'method' },
      class: { kind: 'class', container: true },
      singleton_class: { kind: 'class', container: true, name: () => 'self' },
      module: { kind: 'module', container: true },
    },
    wrappers: new Set(),
    attach: new Set(['comment']),
  },
  php: {
    defs: {
      function_definition: { kind: 'function' },
      method_declaration: { kind: 'method' },
      class_declaration: { kind: 'class', container: true },
      interface_declaration: { kind: 'interface', container: true },
      trait_declaration: { kind: 'trait', container: true },
      enum_declaration: { kind: 'enum', container: true },
      namespace_definition: { kind: withBody('module'), container: true },
    },
    wrappers: new Set(),
    attach: new Set(['comment', 'attribute_list']),
  },
  bash: {
    defs: { function_definition: { kind: 'function' } },
    wrappers: new Set(),
    attach: new Set(['comment']),
  },
  scala: {
    defs: {
      class_definition: { kind: 'class', container: true },
      object_definition: { kind: 'class', container: true },
      trait_definition: { kind: 'trait', container: true },
      enum_definition: { kind: 'enum', container: true },
      function_definition: { kind: 'function' },
      given_definition: { kind: 'class', container: true },
      extension_definition: { kind: 'impl', container: true, name: () => 'extension' },
    },
    wrappers: new Set(),
    attach: new Set(['comment', 'block_comment']),
  },
  kotlin: {
    defs: {
      class_declaration: { kind: kotlinClassKind, container: true },
      object_declaration: { kind: 'class', container: true },
      companion_object: { kind: 'class', container: true, name: (n) => field(n, 'name') ?? 'companion object' },
      function_declaration: { kind: 'function' },
      secondary_constructor: { kind: 'method', name: () => 'constructor' },
    },
    wrappers: new Set(),
    attach: new Set(['line_comment', 'block_comment', 'comment']),
  },
  lua: {
    defs: { function_declaration: { kind: 'function' } },
    wrappers: new Set(),
    attach: new Set(['comment']),
  },
  zig: {
    defs: {
      function_declaration: { kind: 'function' },
      test_declaration: { kind: 'function', name: zigTestName },
      variable_declaration: { kind: zigVariableKind, container: true, name: zigVariableName },
    },
    wrappers: new Set(),
    attach: new Set(['comment']),
  },
};
