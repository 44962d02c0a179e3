/**
 * Base64 and UTF-8 checks for output records. The one module to swap for `@std/encoding`.
 *
 * @module
 */

/** The bytes as standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.byteLength; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The bytes of standard base64 text. */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whether the bytes are valid UTF-8 (so that their text says exactly what they hold). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    exact.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
