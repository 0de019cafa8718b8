import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * A small file system of its own (tmpfs) over a folder, for a worker process only: the worker runs in a mount
 * namespace (`unshare`; as root or as any user where unprivileged user namespaces are allowed), so the test can make
 * that folder full or read-only for it — a real ENOSPC, a real EROFS from the kernel — without touching the machine.
 */
export class SmallVolume {
  constructor(
    readonly dir: string,
    readonly sizeMb: number,
  ) {}

  /** The command a worker runs under: a mount namespace where `dir` is a tmpfs of `sizeMb`. */
  prefix(): string[] {
    return [
      'unshare',
      '--user',
      '--map-root-user',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t tmpfs -o size=${this.sizeMb}m tmpfs "$0" && exec "$@"`,
      this.dir,
    ];
  }

  /** Run a shell command inside the worker's namespace (it sees the tmpfs). */
  async run(pid: number, script: string): Promise<string> {
    const { stdout } = await promisify(execFile)(
      'nsenter',
      ['--target', String(pid), '--user', '--mount', '--preserve-credentials', 'sh', '-c', script],
      { encoding: 'utf8' },
    );
    return stdout;
  }

  readOnly(pid: number): Promise<string> {
    return this.run(pid, `mount -o remount,ro "${this.dir}"`);
  }

  writable(pid: number): Promise<string> {
    return this.run(pid, `mount -o remount,rw "${this.dir}"`);
  }

  /** Fill what is left (a file of zeros until the kernel says ENOSPC). */
  fill(pid: number): Promise<string> {
    return this.run(
      pid,
      `dd if=/dev/zero of="${this.dir}/.filler" bs=64k 2>/dev/null; sync; df -k "${this.dir}" | tail -1`,
    );
  }

  free(pid: number): Promise<string> {
    return this.run(pid, `rm -f "${this.dir}/.filler"`);
  }

  list(pid: number, sub: string): Promise<string[]> {
    return this.run(pid, `ls -A "${this.dir}/${sub}" 2>/dev/null || true`).then((out) =>
      out.split('\n').filter(Boolean),
    );
  }
}
