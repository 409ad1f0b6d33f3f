/**
 * The model catalogue: what we know about the models we name before reading their folders
 * (architecture, pooling, instruction prefixes, token limits, dimension). A folder's own files win
 * where they speak (folder.ts reads them).
 */
import type { ModelConfig } from './native';

export type Pooling = 'cls' | 'mean';
export type Architecture = ModelConfig['architecture'];

/** What we know about a model before reading its folder: the catalogue entry. */
export interface CatalogueEntry {
  /** Hub id, e.g. `BAAI/bge-small-en-v1.5`. */
  id: string;
  architecture: Architecture;
  /** Pooling the model was trained with (a folder's 1_Pooling/config.json takes precedence). */
  pooling: Pooling;
  /** Prefix added to queries (asymmetric retrieval models are trained with one). */
  queryPrefix: string;
  /** Prefix added to documents (chunks). */
  documentPrefix: string;
  /** Longest input the model was trained for, in tokens (special tokens included). */
  maxTokens: number;
  /** Embedding dimension. */
  dim: number;
}

const BGE_QUERY = 'Represent this sentence for searching relevant passages: ';

/**
 * Known models, as their model cards describe them. A folder's own files win where they speak
 * (1_Pooling/config.json, sentence_bert_config.json, config_sentence_transformers.json prompts);
 * the catalogue fills in what a bare `transformers` folder leaves unsaid: the instruction
 * prefixes, and pooling where config.json's `classifier_pooling` is not what the embedding model
 * was trained with (gte-modernbert-base says "mean" there but pools CLS).
 */
export const CATALOGUE: readonly CatalogueEntry[] = [
  { id: 'sentence-transformers/all-MiniLM-L6-v2', architecture: 'bert', pooling: 'mean', queryPrefix: '', documentPrefix: '', maxTokens: 256, dim: 384 },
  { id: 'BAAI/bge-small-en-v1.5', architecture: 'bert', pooling: 'cls', queryPrefix: BGE_QUERY, documentPrefix: '', maxTokens: 512, dim: 384 },
  { id: 'semsearch/bge-small-en-v1.5-code', architecture: 'bert', pooling: 'cls', queryPrefix: BGE_QUERY, documentPrefix: '', maxTokens: 512, dim: 384 },
  { id: 'BAAI/bge-base-en-v1.5', architecture: 'bert', pooling: 'cls', queryPrefix: BGE_QUERY, documentPrefix: '', maxTokens: 512, dim: 768 },
  {
    id: 'nomic-ai/modernbert-embed-base',
    architecture: 'modernbert',
    pooling: 'mean',
    queryPrefix: 'search_query: ',
    documentPrefix: 'search_document: ',
    maxTokens: 8192,
    dim: 768,
  },
  {
    id: 'ibm-granite/granite-embedding-small-english-r2',
    architecture: 'modernbert',
    pooling: 'cls',
    queryPrefix: '',
    documentPrefix: '',
    maxTokens: 8192,
    dim: 384,
  },
  {
    id: 'ibm-granite/granite-embedding-english-r2',
    architecture: 'modernbert',
    pooling: 'cls',
    queryPrefix: '',
    documentPrefix: '',
    maxTokens: 8192,
    dim: 768,
  },
  { id: 'Alibaba-NLP/gte-modernbert-base', architecture: 'modernbert', pooling: 'cls', queryPrefix: '', documentPrefix: '', maxTokens: 8192, dim: 768 },
];
