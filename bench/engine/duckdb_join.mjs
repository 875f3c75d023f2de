// The DuckDB side of bench/engine/cached_vs_duckdb.sh: the same enrichment as a SQL hash join.
//
//   node duckdb_join.mjs NODE_MODULES_PARENT INPUT.csv VERDICTS.csv OUTPUT.csv COLUMN
//
// read_csv the log (all columns as text) with its row number, LEFT JOIN the verdict table on the
// observable column, ORDER BY the row number, COPY TO a CSV with the five ctia_* columns added.
// Prints "duckdb_result seconds=S version=V threads=T" (time of the COPY statement alone).
import { createRequire } from 'node:module';
import path from 'node:path';

const [modulesParent, input, verdicts, output, column] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modulesParent), 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');

const q = (s) => `'${s.replaceAll("'", "''")}'`;
const id = (s) => `"${s.replaceAll('"', '""')}"`;

const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();
const info = (await con.runAndReadAll(
    "SELECT version(), current_setting('threads')")).getRows()[0];

const sql = `
COPY (
  SELECT l.* EXCLUDE (ctia_row),
         v.disposition AS ctia_disposition,
         v.disposition_name AS ctia_disposition_name,
         v.judgement_id AS ctia_judgement_id,
         v.valid_until AS ctia_valid_until,
         coalesce(v.status, 'skipped') AS ctia_status
  FROM (SELECT *, row_number() OVER () AS ctia_row
        FROM read_csv(${q(input)}, header = true, delim = ',', quote = '"', escape = '"',
                      all_varchar = true)) l
  LEFT JOIN read_csv(${q(verdicts)}, header = true, delim = ',', quote = '"', escape = '"',
                     columns = {'value': 'VARCHAR', 'disposition': 'VARCHAR',
                                'disposition_name': 'VARCHAR', 'judgement_id': 'VARCHAR',
                                'valid_until': 'VARCHAR', 'status': 'VARCHAR'}) v
    ON l.${id(column)} = v.value
  ORDER BY l.ctia_row
) TO ${q(output)} (FORMAT csv, HEADER true)`;

const started = process.hrtime.bigint();
await con.run(sql);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`duckdb_result seconds=${seconds.toFixed(3)} version=${info[0]} threads=${info[1]}`);
