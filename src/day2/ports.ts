/**
 * What day-2 commands need from vmrest: build-vms' slice (clone, configure,
 * power) plus deleting VMs and reading guest addresses.
 */
import type { BuildVmrest } from '../bringup/ports.js';
import type { VmrestClient } from '../vmrest/client.js';

export type Day2Vmrest = BuildVmrest & Pick<VmrestClient, 'getNicIps' | 'getIp'>;

/** A line for the user (what a day-2 command is doing or skipping, and why). */
export type Day2Log = (message: string) => void;
