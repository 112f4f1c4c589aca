/** `npm run boot-test -- --rootfs-only` builds the cached root file system; this is the same as a script. */
import { ensureRootfs } from "./rootfs";

if (require.main === module) {
    const r = ensureRootfs(console.log);
    console.log(`boot-test: root file system ${r.dir} (${r.built ? `built in ${r.seconds.toFixed(0)} s` : "cached"})`);
}
