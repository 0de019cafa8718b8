/**
 * Feature transforms fitted on training rows and frozen into the model artifact, so training, evaluation, serving and
 * the monitor encode a row identically:
 *   types.ts    what a fitted preprocessor holds, and the layout of an encoded row
 *   columns.ts  which source columns a spec reads, and how
 *   fit.ts      learning the transforms' state (means, vocabularies, pieces, classes) from the training rows
 *   encode.ts   rows → inputs, labels → targets
 *   cross.ts    crossed features' keys and lookups
 *   split.ts    the seeded holdout split, and which rows carry a usable label
 */
export { timePart } from '../calendar';
export { columnRequests, inputColumns } from './columns';
export { decodeRegression, encodeCodes, encodeFeatures, encodeLabels, featureCodes } from './encode';
export { fitPreprocessor } from './fit';
export { labelPresent, rareClasses, splitRows, type Split } from './split';
export {
  CROSS_SEPARATOR,
  derivedEmbeddingDim,
  embeddingsOf,
  featureColumns,
  type CrossPart,
  type EmbeddingInput,
  type FittedFeature,
  type FittedLabel,
  type Preprocessor,
} from './types';
