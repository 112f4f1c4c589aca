import { BootstrapSettings, VRRP, vrrpAddresses } from "./settings";

export const KEEPALIVED_INTERFACE_VARIABLE = "IGUANA_HA_IFACE";

export function interfaceIncludePath(s: BootstrapSettings): string {
    return `${s.paths.etcDir}/keepalived-interface.conf`;
}

/** The include that names the interface keepalived uses (written at boot: ens5, eth0, the tunnel). */
export function renderInterfaceInclude(interfaceName: string): string {
    return `$${KEEPALIVED_INTERFACE_VARIABLE}=${interfaceName}\n`;
}

/**
 * Unicast VRRP between the two workers. Both start as BACKUP with `nopreempt`: the higher
 * priority (WK1) wins an election, but a returning WK1 never takes MASTER back from WK2.
 */
/** The pseudo-state notify.sh gets when this MASTER hears a lower-priority MASTER (floating IP). */
export const MASTER_RX_LOWER_PRI = "MASTER_RX_LOWER_PRI";

export function renderKeepalivedConf(s: BootstrapSettings): string {
    const addresses = vrrpAddresses(s);
    return `# Rendered by iguana-ha for ${s.self.name} (${s.self.role}). Do not edit by hand.
include ${interfaceIncludePath(s)}

global_defs {
    router_id iguana-${s.self.name}
    enable_script_security
    script_user root
}

vrrp_script iguana_healthy {
    script "${s.paths.libDir}/check-iguana.sh"
    interval ${VRRP.checkIntervalSeconds}
    timeout ${VRRP.scriptTimeoutSeconds}
    fall ${VRRP.checkFall}
    rise ${VRRP.checkRise}
}

vrrp_instance IGUANA {
    state BACKUP
    nopreempt
    interface $${KEEPALIVED_INTERFACE_VARIABLE}
    virtual_router_id ${VRRP.virtualRouterId}
    priority ${s.self.vrrpPriority}
    advert_int ${VRRP.advertIntervalSeconds}
    unicast_src_ip ${addresses.self}
    unicast_peer {
        ${addresses.peer}
    }
    track_script {
        iguana_healthy
    }
    notify "${s.paths.libDir}/notify.sh"${
        s.failoverStrategy === "floating-ip"
            ? `
    # Both MASTER until now (the link between the workers was cut): the lower-priority one
    # yields, but may have taken the VIP meanwhile. It sends one last advert as it yields
    # (higher_prio_send_advert), and a MASTER that hears a lower-priority MASTER runs
    # notify_master_rx_lower_pri: the VIP comes back at once, not at the next reconcile.
    higher_prio_send_advert true
    notify_master_rx_lower_pri "${s.paths.libDir}/notify.sh INSTANCE IGUANA ${MASTER_RX_LOWER_PRI}"`
            : ""
    }
    virtual_ipaddress {
        ${VRRP.markerAddress} dev lo scope host
    }
}
`;
}
