/**
 * The formats a source may be read as (`--format`), in a module of its own: the command line names them in its help
 * without loading the readers.
 */
export const SOURCE_FORMATS = ['parquet', 'csv', 'json', 'arrow'] as const;
