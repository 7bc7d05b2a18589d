from pettingzoo.test import parallel_api_test, parallel_seed_test

from multiexec.execution.pettingzoo_env import MultiOrderParallelEnv


def test_parallel_api(random_market):
    bars, orders = random_market
    parallel_api_test(MultiOrderParallelEnv(bars, orders), num_cycles=30)


def test_parallel_seed(random_market):
    bars, orders = random_market
    parallel_seed_test(lambda: MultiOrderParallelEnv(bars, orders, reward="order"))


def test_team_reward_is_shared(random_market):
    bars, orders = random_market
    env = MultiOrderParallelEnv(bars, orders)
    obs, _ = env.reset(options={"day": 3})
    assert len(env.agents) == orders[3].n
    rewards = None
    while env.agents:
        obs, rewards, term, trunc, info = env.step({a: env.action_space(a).sample() for a in env.agents})
        assert len(set(rewards.values())) == 1
    assert all(term.values())
