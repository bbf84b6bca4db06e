import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NotFoundError, UserError } from '@banger/errors';
import { embeddedRecipes } from './embedded-recipes.js';
import { parseRecipe } from './parse-recipe.js';
import type { Recipe } from './schema.js';

/** Names of the recipes shipped with banger (`debian-bookworm`, `debian-minimal`). */
export const builtinRecipeNames = (): string[] => Object.keys(embeddedRecipes).sort();

/**
 * Loads a recipe by built-in name (`debian-minimal`) or from a TOML file path
 * (anything containing `/` or ending in `.toml`, for user recipes).
 */
export async function loadRecipe(nameOrPath: string): Promise<Recipe> {
  if (nameOrPath.includes('/') || nameOrPath.endsWith('.toml')) {
    const path = resolve(nameOrPath);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new UserError('RECIPE_UNREADABLE', `recipe ${path}: cannot read it: ${(error as Error).message}`, {
        hint: 'pass the path of a recipe .toml file or a built-in recipe name',
        cause: error,
      });
    }
    return parseRecipe(text, path);
  }
  const text = embeddedRecipes[nameOrPath];
  if (text === undefined) {
    throw new NotFoundError('RECIPE_NOT_FOUND', `recipe "${nameOrPath}" not found: known recipes are ${builtinRecipeNames().join(', ')}`, {
      hint: 'pass a built-in recipe name or the path of a .toml recipe',
    });
  }
  const recipe = parseRecipe(text, `embedded:${nameOrPath}.toml`);
  if (recipe.name !== nameOrPath) {
    throw new UserError('RECIPE_INVALID', `embedded:${nameOrPath}.toml: name: is "${recipe.name}", expected "${nameOrPath}"`);
  }
  return recipe;
}
