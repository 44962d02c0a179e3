/**
 * The files that receive a job's stdout and stderr.
 *
 * @module
 */

/** A file that receives one stream of a job's output. */
export class OutputFile {
  private constructor(private readonly file: Deno.FsFile) {}

  /**
   * Opens `path` for writing, or returns null for no path. An existing file is replaced and the
   * file is created exclusively, so a symlink planted at that name is never followed.
   */
  static async open(path: string | null): Promise<OutputFile | null> {
    if (path === null) return null;
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return new OutputFile(await Deno.open(path, { write: true, createNew: true, mode: 0o644 }));
  }

  /** Writes every byte. */
  async write(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.byteLength) written += await this.file.write(data.subarray(written));
  }

  close(): void {
    try {
      this.file.close();
    } catch {
      // Already closed.
    }
  }
}
