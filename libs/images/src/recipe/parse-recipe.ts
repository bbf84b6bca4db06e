import { parse, TomlError } from 'smol-toml';
import { UserError } from '@banger/errors';
import { recipeSchema, type Recipe } from './schema.js';

/**
 * Parses and validates recipe TOML. Errors are UserErrors that name the file
 * and the offending key (`recipes/x.toml: packages[2]: must be …`) or the line
 * and column of a TOML syntax error.
 */
export function parseRecipe(text: string, source: string): Recipe {
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const why = error.message.split('\n')[0] ?? 'invalid TOML';
      throw new UserError('RECIPE_INVALID', `${source}:${error.line}:${error.column}: invalid TOML: ${why}`, {
        hint: 'fix the syntax at that line (TOML 1.0)',
        cause: error,
      });
    }
    throw error;
  }
  const result = recipeSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = formatPath(issue.path);
    const why =
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
        : issue.message;
    throw new UserError('RECIPE_INVALID', `${source}: ${key ? `${key}: ` : ''}${why}`, {
      hint: 'see docs/image-catalog.md for the recipe keys',
    });
  }
  return { ...result.data, source, text };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
