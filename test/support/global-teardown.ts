export default async function globalTeardown(): Promise<void> {
  await globalThis.sboControlPlane?.stop();
  globalThis.sboControlPlane = undefined;
}
