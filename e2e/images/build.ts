/**
 * `npx tsx e2e/images/build.ts`: builds (or finds cached) every image of the
 * real test nodes and prints each reference, archive, size and build time.
 * Needs root for a build (see images.ts); a warm run takes seconds.
 */
import { archiveBytes, ensureImages, type ImageName } from './images.ts';

const started = Date.now();
try {
  const images = await ensureImages((line) => console.log(line));
  for (const [name, image] of Object.entries(images) as [ImageName, (typeof images)[ImageName]][]) {
    const mib = (await archiveBytes(image.archive)) / 1024 / 1024;
    const time = image.buildSeconds > 0 ? `built in ${image.buildSeconds}s` : 'cached';
    console.log(`${name.padEnd(15)} ${image.tags.join(', ')}`);
    console.log(`${''.padEnd(15)} ${image.archive} (${mib.toFixed(1)} MiB, ${time})`);
  }
  console.log(`ensureImages took ${((Date.now() - started) / 1000).toFixed(1)}s`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
