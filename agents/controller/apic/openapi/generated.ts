// GENERATED FILE, do not edit. Source: apic-rest.yaml. Regenerate: npx tsx -e "import('./agents/controller/apic/openapi/generate.ts').then(m => m.generateApicTypes())"
export interface paths {
  '/api/aaaLogin.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post: operations['aaaLogin'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/aaaLogout.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get?: never;
    put?: never;
    post: operations['aaaLogout'];
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/aaaRefresh.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get: operations['aaaRefresh'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/class/{class}.json': {
    parameters: {
      query?: never;
      header?: never;
      path: {
        class: components['parameters']['ClassName'];
      };
      cookie?: never;
    };
    get: operations['getClass'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/mo/{dn}.json': {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description Distinguished name, e.g. `uni/tn-common/BD-kube-pod-bd` (slashes are not escaped). */
        dn: components['parameters']['Dn'];
      };
      cookie?: never;
    };
    get: operations['getMo'];
    put?: never;
    /** @description Create or modify (merge) the MO and any nested children; a `status` attribute of `created`, `modified`, `created,modified` or `deleted` controls the operation per object. */
    post: operations['postMo'];
    delete: operations['deleteMo'];
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/subscriptionRefresh.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    get: operations['subscriptionRefresh'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/webtokenSession.json': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** @description With signature auth, returns a token usable for the websocket. */
    get: operations['webtokenSession'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/socket{token}': {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    /** @description WebSocket upgrade. The token is the aaaLogin (or webtokenSession) token appended directly after `/socket`. Messages are SubscriptionEvent JSON documents. */
    get: operations['websocket'];
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
}
export type webhooks = Record<string, never>;
export interface components {
  schemas: {
    /** @description MO properties; APIC sends and accepts every value as a string. */
    Attributes: {
      [key: string]: string;
    };
    ErrorObject: {
      error: {
        attributes: {
          code: string;
          text: string;
        };
      };
    };
    ErrorResponse: {
      imdata: components['schemas']['ErrorObject'][];
      totalCount: string;
    };
    ImdataResponse: {
      imdata: components['schemas']['ManagedObject'][];
      subscriptionId?: string;
      totalCount: string;
    };
    LoginAttributes: {
      maximumLifetimeSeconds?: string;
      refreshTimeoutSeconds: string;
      sessionId?: string;
      token: string;
      userName?: string;
      version?: string;
    } & {
      [key: string]: string;
    };
    LoginRequest: {
      aaaUser: {
        attributes: {
          name: string;
          pwd: string;
        };
      };
    };
    LoginResponse: {
      imdata: {
        aaaLogin: {
          attributes: components['schemas']['LoginAttributes'];
          children?: components['schemas']['ManagedObject'][];
        };
      }[];
      totalCount: string;
    };
    /** @description Exactly one key, the class name. */
    ManagedObject: {
      [key: string]: components['schemas']['MoBody'];
    };
    MoBody: {
      attributes?: components['schemas']['Attributes'];
      children?: components['schemas']['ManagedObject'][];
    };
    /** @description Pushed on the websocket /socket<token> for each change a subscription covers. */
    SubscriptionEvent: {
      imdata: components['schemas']['ManagedObject'][];
      subscriptionId: string[];
    };
    WebtokenResponse: {
      imdata: {
        webtokenSession: {
          attributes: {
            refreshTimeoutSeconds: string;
            token: string;
          };
        };
      }[];
      totalCount: string;
    };
  };
  responses: {
    /** @description APIC error: 400 bad request (naming, unknown class or property, parent missing), 401/403 authentication, 404 unknown path, 503 busy. */
    Error: {
      headers: {
        [name: string]: unknown;
      };
      content: {
        'application/json': components['schemas']['ErrorResponse'];
      };
    };
    /** @description Query or write result. */
    Imdata: {
      headers: {
        [name: string]: unknown;
      };
      content: {
        'application/json': components['schemas']['ImdataResponse'];
      };
    };
  };
  parameters: {
    ClassName: string;
    /** @description Distinguished name, e.g. `uni/tn-common/BD-kube-pod-bd` (slashes are not escaped). */
    Dn: string;
    /** @description `<class>.<prop>|asc` or `|desc`. */
    OrderBy: string;
    Page: number;
    PageSize: number;
    QueryTarget: 'self' | 'children' | 'subtree';
    /** @description Filter expression, e.g. `and(eq(fvTenant.name,"common"),wcard(fvTenant.descr,"kube"))`. */
    QueryTargetFilter: string;
    /** @description Seconds a subscription lives without subscriptionRefresh (APIC 4.2+, default 60). */
    RefreshTimeout: number;
    RspPropInclude: 'all' | 'naming-only' | 'config-only';
    RspSubtree: 'no' | 'children' | 'full';
    RspSubtreeClass: string;
    Subscription: 'yes' | 'no';
    /** @description Comma-separated class names. */
    TargetSubtreeClass: string;
  };
  requestBodies: never;
  headers: never;
  pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
  aaaLogin: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['LoginRequest'];
      };
    };
    responses: {
      /** @description Session token, also set as the APIC-cookie cookie. */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['LoginResponse'];
        };
      };
      401: components['responses']['Error'];
    };
  };
  aaaLogout: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: {
      content: {
        'application/json': components['schemas']['LoginRequest'];
      };
    };
    responses: {
      200: components['responses']['Imdata'];
    };
  };
  aaaRefresh: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description A fresh token with a new expiry. */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['LoginResponse'];
        };
      };
      403: components['responses']['Error'];
    };
  };
  getClass: {
    parameters: {
      query?: {
        /** @description `<class>.<prop>|asc` or `|desc`. */
        'order-by'?: components['parameters']['OrderBy'];
        page?: components['parameters']['Page'];
        'page-size'?: components['parameters']['PageSize'];
        'query-target'?: components['parameters']['QueryTarget'];
        /** @description Filter expression, e.g. `and(eq(fvTenant.name,"common"),wcard(fvTenant.descr,"kube"))`. */
        'query-target-filter'?: components['parameters']['QueryTargetFilter'];
        /** @description Seconds a subscription lives without subscriptionRefresh (APIC 4.2+, default 60). */
        'refresh-timeout'?: components['parameters']['RefreshTimeout'];
        'rsp-prop-include'?: components['parameters']['RspPropInclude'];
        'rsp-subtree'?: components['parameters']['RspSubtree'];
        'rsp-subtree-class'?: components['parameters']['RspSubtreeClass'];
        subscription?: components['parameters']['Subscription'];
        /** @description Comma-separated class names. */
        'target-subtree-class'?: components['parameters']['TargetSubtreeClass'];
      };
      header?: never;
      path: {
        class: components['parameters']['ClassName'];
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: components['responses']['Imdata'];
      400: components['responses']['Error'];
      403: components['responses']['Error'];
    };
  };
  getMo: {
    parameters: {
      query?: {
        /** @description `<class>.<prop>|asc` or `|desc`. */
        'order-by'?: components['parameters']['OrderBy'];
        page?: components['parameters']['Page'];
        'page-size'?: components['parameters']['PageSize'];
        'query-target'?: components['parameters']['QueryTarget'];
        /** @description Filter expression, e.g. `and(eq(fvTenant.name,"common"),wcard(fvTenant.descr,"kube"))`. */
        'query-target-filter'?: components['parameters']['QueryTargetFilter'];
        /** @description Seconds a subscription lives without subscriptionRefresh (APIC 4.2+, default 60). */
        'refresh-timeout'?: components['parameters']['RefreshTimeout'];
        'rsp-prop-include'?: components['parameters']['RspPropInclude'];
        'rsp-subtree'?: components['parameters']['RspSubtree'];
        'rsp-subtree-class'?: components['parameters']['RspSubtreeClass'];
        subscription?: components['parameters']['Subscription'];
        /** @description Comma-separated class names. */
        'target-subtree-class'?: components['parameters']['TargetSubtreeClass'];
      };
      header?: never;
      path: {
        /** @description Distinguished name, e.g. `uni/tn-common/BD-kube-pod-bd` (slashes are not escaped). */
        dn: components['parameters']['Dn'];
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: components['responses']['Imdata'];
      400: components['responses']['Error'];
      403: components['responses']['Error'];
    };
  };
  postMo: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description Distinguished name, e.g. `uni/tn-common/BD-kube-pod-bd` (slashes are not escaped). */
        dn: components['parameters']['Dn'];
      };
      cookie?: never;
    };
    requestBody: {
      content: {
        'application/json': components['schemas']['ManagedObject'];
      };
    };
    responses: {
      200: components['responses']['Imdata'];
      400: components['responses']['Error'];
      403: components['responses']['Error'];
    };
  };
  deleteMo: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        /** @description Distinguished name, e.g. `uni/tn-common/BD-kube-pod-bd` (slashes are not escaped). */
        dn: components['parameters']['Dn'];
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: components['responses']['Imdata'];
      403: components['responses']['Error'];
    };
  };
  subscriptionRefresh: {
    parameters: {
      query: {
        id: string;
      };
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      200: components['responses']['Imdata'];
      400: components['responses']['Error'];
    };
  };
  webtokenSession: {
    parameters: {
      query?: never;
      header?: never;
      path?: never;
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Token for /socket<token>. */
      200: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['WebtokenResponse'];
        };
      };
      403: components['responses']['Error'];
    };
  };
  websocket: {
    parameters: {
      query?: never;
      header?: never;
      path: {
        token: string;
      };
      cookie?: never;
    };
    requestBody?: never;
    responses: {
      /** @description Switching protocols; then SubscriptionEvent messages. */
      101: {
        headers: {
          [name: string]: unknown;
        };
        content: {
          'application/json': components['schemas']['SubscriptionEvent'];
        };
      };
    };
  };
}
