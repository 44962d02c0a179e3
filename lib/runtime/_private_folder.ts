/**
 * Private folders: made new (never reused as found), then checked before use: a real folder
 * (not a link), owned by this user, mode 0700. A folder that something removed (a /tmp cleaner)
 * is only ever re-made new and checked again, so another local user who re-creates it first
 * gets it refused, never used.
 *
 * @module
 */

/** A private folder made by {@linkcode makePrivateFolder}. */
export interface PrivateFolder {
  readonly dir: string;
  /** The owner it was made with: this user (learnt from the folder itself, no `--allow-sys`). */
  readonly uid: number | null;
}

/**
 * Makes a new private folder `base/prefixXXXXXX` (mode 0700) and checks it.
 *
 * @throws {Error} When it cannot be made, or is not private once made.
 */
export function makePrivateFolder(base: string | undefined, prefix: string): PrivateFolder {
  const dir = Deno.makeTempDirSync({ ...(base === undefined ? {} : { dir: base }), prefix });
  Deno.chmodSync(dir, 0o700);
  // Made new (it did not exist), by this user, 0700: without read access that is all we know.
  if (!mayRead(dir)) return { dir, uid: null };
  const info = Deno.lstatSync(dir);
  const problem = notPrivate(dir, info, info.uid);
  if (problem !== null) {
    Deno.removeSync(dir, { recursive: true });
    throw new Error(problem);
  }
  return { dir, uid: info.uid };
}

/**
 * Why `folder` may not be used any more, or null when it is still private: it is gone, or it is
 * no longer a folder of this user's with mode 0700 (re-made by someone else, a link, opened up).
 */
export function privateFolderProblem(folder: PrivateFolder): string | null {
  // Without read access it cannot be looked at: the folder made new is trusted (see the README).
  if (!mayRead(folder.dir)) return null;
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(folder.dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `${folder.dir} was removed`;
    return `cannot check ${folder.dir}: ${(error as Error).message}`;
  }
  return notPrivate(folder.dir, info, folder.uid);
}

/**
 * Makes `folder` again, new, if something removed it, and checks it: null when it may be used,
 * else why not (it is then never used).
 */
export function remakePrivateFolder(folder: PrivateFolder): string | null {
  try {
    Deno.mkdirSync(folder.dir, { mode: 0o700 });
    Deno.chmodSync(folder.dir, 0o700);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      return `cannot make ${folder.dir} again: ${(error as Error).message}`;
    }
  }
  return privateFolderProblem(folder);
}

/** Why a folder with `info` is not private to `uid` (when known), or null. */
export function notPrivate(dir: string, info: Deno.FileInfo, uid: number | null): string | null {
  if (info.isSymlink) return `${dir} is a symbolic link, not a private folder`;
  if (!info.isDirectory) return `${dir} is not a folder`;
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    return `${dir} belongs to another user (uid ${info.uid})`;
  }
  if (info.mode !== null && (info.mode & 0o777) !== 0o700) {
    return `${dir} has mode ${(info.mode & 0o777).toString(8)}, not 700`;
  }
  return null;
}

/** `$TMPDIR` without trailing slashes, where `--allow-env` lets it be read and it is set. */
export function readableTmpdir(): string | undefined {
  const tmpdir = Deno.permissions.querySync({ name: "env", variable: "TMPDIR" }).state === "granted"
    ? Deno.env.get("TMPDIR")
    : undefined;
  return tmpdir ? tmpdir.replace(/\/+$/, "") || "/" : undefined;
}

function mayRead(path: string): boolean {
  return Deno.permissions.querySync({ name: "read", path }).state === "granted";
}
