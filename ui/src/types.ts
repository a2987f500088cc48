// The shapes of /ui/api's answers (src/pykatib/ui/api.py).

export interface TrialCounts {
  total: number;
  succeeded: number;
  running: number;
  pending: number;
  failed: number;
  killed: number;
  earlyStopped: number;
}

export interface ExperimentSummary {
  namespace: string;
  name: string;
  status: string;
  reason: string | null;
  algorithm: string | null;
  created: string | null;
  completed: string | null;
  objective: { metric: string; type: string | null };
  trials: TrialCounts;
  maxTrialCount: number | null;
  bestTrial: string | null;
  bestValue: number | null;
}

export interface Objective {
  names: string[];
  types: string[];
}

export interface TrialItem {
  number: number;
  name: string;
  status: string;
  params: Record<string, number | string>;
  metrics: Record<string, number | null>;
  created: string | null;
  completed: string | null;
}

export interface TrialsPage {
  total: number;
  offset: number;
  best: string | null;
  objective: Objective;
  metrics: string[];
  parameters: string[];
  items: TrialItem[];
}

export interface ParameterSpec {
  name: string;
  parameterType: string;
  feasibleSpace: { min?: string; max?: string; step?: string; list?: string[]; distribution?: string };
}

/** Every trial as columns: the plots' data. */
export interface Columns {
  best: string | null;
  objective: Objective;
  parameters: ParameterSpec[];
  pareto: string[];
  number: number[];
  name: string[];
  status: string[];
  params: Record<string, (number | string | null)[]>;
  metrics: Record<string, (number | null)[]>;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

// Katib's objects as the Kubernetes-style API serves them; read loosely, field by field.
export type KubeObject = { apiVersion: string; kind: string; metadata: any; spec: any; status?: any };

/** /ui/api/.../importance */
export interface Importance {
  metric: string;
  trials: number;
  evaluator?: string;
  message?: string;
  importances: { name: string; value: number }[];
}

/** /ui/api/.../intermediate */
export interface Intermediate {
  metric: string;
  total: number;
  series: { name: string; status: string; steps: number[]; values: number[] }[];
}
