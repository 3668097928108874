/**
 * Which of this machine's addresses to show, and in what order: a pure function of a table shaped
 * like `os.networkInterfaces()`, so the order can be tested on made-up machines.
 *
 * The banner's first network URL is the one its QR code encodes, so it should be the one a phone on
 * the same Wi-Fi can most likely reach: an address of a physical interface, not of a Docker bridge
 * or a VPN. Virtual interfaces are still listed (a VM or a tailnet peer may want them), last and
 * labelled with their interface's name.
 */
import type { NetworkInterfaceInfo } from "node:os";

/** An address another machine might use to reach this one. */
export interface NetworkAddress {
  address: string;
  family: "IPv4" | "IPv6";
  /** The interface's name as the OS gives it: `eth0`, `wlp2s0`, `docker0`, `vEthernet (WSL)`. */
  interfaceName: string;
  /** True for bridges, container and VM networks, and VPNs: reachable from this machine or a tunnel, rarely from a phone. */
  virtual: boolean;
}

/** Names of wired and wireless adapters: Linux (`eth0`, `enp3s0`, `wlp2s0`, `wlan0`), macOS (`en0`), Windows (`Ethernet 2`, `Wi-Fi`). */
const PHYSICAL = /^(en|eth|wl|wi-?fi)/i;

/**
 * Names of virtual interfaces: Docker (`docker0`, `br-1a2b…`, `veth…`), libvirt (`virbr0`), VMware
 * (`vmnet8`), VirtualBox (`vboxnet0`), Podman/LXC/LXD and Kubernetes bridges, VPNs (Tailscale,
 * WireGuard, ZeroTier, `utun` on macOS, `tun`/`tap`), macOS's Internet-sharing `bridge100`, and
 * Hyper-V/WSL's `vEthernet (…)` on Windows. Tested before PHYSICAL: `vEthernet` is not Ethernet.
 */
const VIRTUAL = /^(docker|br-|veth|virbr|vmnet|vboxnet|tailscale|utun|vethernet|lxcbr|lxdbr|podman|cni|flannel|cali|wg|zt|tun|tap|bridge)/i;

/** 0: physical, 1: unknown (`bond0`, `usb0`…), 2: virtual. Lower comes first. */
function interfaceRank(name: string): number {
  if (VIRTUAL.test(name)) return 2;
  if (PHYSICAL.test(name)) return 0;
  return 1;
}

/** Link-local addresses need a zone (`%eth0`) that a URL cannot carry portably, so they are left out. */
function isLinkLocal(info: Pick<NetworkInterfaceInfo, "family" | "address">): boolean {
  return info.family === "IPv4" ? info.address.startsWith("169.254.") : /^fe[89ab]/i.test(info.address);
}

/**
 * The non-internal, non-link-local addresses in `table`, physical interfaces first, then unknown
 * ones, then virtual ones; within each, IPv4 before IPv6 (shorter to type, and what a phone on Wi-Fi
 * is sure to have), then in the table's own order. `ipv4Only` for a server bound to 0.0.0.0.
 */
export function rankNetworkAddresses(table: Readonly<Record<string, readonly NetworkInterfaceInfo[] | undefined>>, ipv4Only: boolean): NetworkAddress[] {
  const found: Array<NetworkAddress & { rank: number }> = [];
  for (const [interfaceName, infos] of Object.entries(table)) {
    for (const info of infos ?? []) {
      if (info.internal || isLinkLocal(info) || (ipv4Only && info.family !== "IPv4")) continue;
      const rank = interfaceRank(interfaceName);
      found.push({ address: info.address, family: info.family, interfaceName, virtual: rank === 2, rank });
    }
  }
  // Array.prototype.sort is stable: equal keys keep the table's order.
  found.sort((a, b) => a.rank - b.rank || Number(a.family === "IPv6") - Number(b.family === "IPv6"));
  return found.map(({ rank: _rank, ...address }) => address);
}
