#!/usr/bin/env python3
"""Generates N realistic registration records as CSV (企业名称,统一社会信用代码,
经营范围,注册地址,法定代表人,成立日期,登记状态) for bench/registry_bench.sh.

Realistic means: valid credit codes over Shaanxi and national division codes
(about 0.3% invalid, as in real registries), names built like real ones
(place + trade name + industry + organisational form), business scopes of
3-10 items from a vocabulary of common scope phrases (~300 bytes), ~5% of
names and ~8% of scopes with restricted words or financial-activity phrases,
~10% of scopes ending with the usual 不得从事…金融业务 clause. Deterministic (seed).
Usage: python3 bench/registry_gen.py N OUT.csv [NAME_RATE SCOPE_RATE NEG_RATE]
(defaults 0.05 0.08 0.10; the real sample's source suggests about 0.0025 0.04 0.05)
"""
import random, sys

A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

def check(s):
    return A[(31 - sum(A.index(c) * w for c, w in zip(s, W)) % 31) % 31]

PLACES = [("610102", "西安市新城区"), ("610113", "西安市雁塔区"), ("610116", "西安市长安区"), ("610302", "宝鸡市渭滨区"),
          ("610402", "咸阳市秦都区"), ("610502", "渭南市临渭区"), ("610602", "延安市宝塔区"), ("610702", "汉中市汉台区"),
          ("610802", "榆林市榆阳区"), ("610902", "安康市汉滨区"), ("610921", "汉阴县"), ("610922", "石泉县"),
          ("610923", "宁陕县"), ("610924", "紫阳县"), ("610925", "岚皋县"), ("610926", "平利县"), ("610927", "镇坪县"),
          ("610929", "白河县"), ("610981", "旬阳市"), ("611002", "商洛市商州区"), ("110105", "北京市朝阳区"),
          ("310115", "上海市浦东新区"), ("440305", "深圳市南山区"), ("330106", "杭州市西湖区"), ("510107", "成都市武侯区")]
TRADE = list("鑫源华泰恒通盛达永安宏远金鼎瑞丰嘉禾天成汇通博远德润中正同创兴业隆昌富康佳美海纳云帆秦岭汉江")
INDUSTRY = ["商贸", "建筑工程", "农业科技", "餐饮管理", "信息技术", "物流", "建材", "食品", "文化传媒", "汽车销售",
            "环保科技", "装饰工程", "医药", "茶业", "劳务", "旅游开发", "电子科技", "房地产开发", "物业管理", "教育咨询",
            "企业管理咨询", "机械设备", "服装", "广告", "网络科技"]
RESTRICTED = ["投资管理", "资产管理", "理财", "金融服务", "财富管理", "基金管理", "支付", "网络借贷", "交易中心", "金融信息"]
FORMS = ["有限公司", "有限责任公司", "股份有限公司", "商行", "经营部", "合作社", "服务部"]
SCOPE = ["日用百货销售", "五金交电", "建筑材料销售", "预包装食品销售", "农副产品收购", "计算机软硬件开发",
         "企业管理咨询", "市场营销策划", "会议及展览服务", "货物进出口", "技术进出口", "园林绿化工程施工",
         "室内外装饰装修", "道路货物运输", "仓储服务（不含危险品）", "餐饮服务", "住宿服务", "文化艺术交流活动策划",
         "广告设计、制作、代理、发布", "家用电器销售", "办公用品销售", "劳务派遣", "物业管理", "房屋租赁",
         "机械设备租赁", "汽车零配件销售", "茶叶种植、加工、销售", "中药材种植", "养殖业", "电子产品销售",
         "网络技术开发、技术咨询、技术服务", "信息系统集成服务", "图文设计制作", "教育信息咨询", "健康管理咨询",
         "旅游信息咨询", "票务代理", "工程机械租赁", "土石方工程", "水电安装", "钢材销售", "服装鞋帽销售"]
FIN_SCOPE = ["投资管理", "资产管理", "投资理财咨询", "发放贷款", "小额贷款", "代客理财", "融资担保", "第三方支付",
             "网络借贷信息中介服务", "股权投资基金管理", "财富管理", "金融信息服务", "支付结算"]
NEG = "（不得从事吸收存款、融资担保、代客理财、向社会公众集（融）资等金融业务）"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    name_rate, scope_rate, neg_rate = (float(x) for x in (sys.argv[3:6] if len(sys.argv) >= 6 else (0.05, 0.08, 0.10)))
    rnd = random.Random(20240601)
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("企业名称,统一社会信用代码,经营范围,注册地址,法定代表人,成立日期,登记状态\n")
        for i in range(n):
            div, place = rnd.choice(PLACES)
            trade = "".join(rnd.choice(TRADE) for _ in range(rnd.choice((2, 2, 3))))
            ind = rnd.choice(RESTRICTED) if rnd.random() < name_rate else rnd.choice(INDUSTRY)
            name = f"{place}{trade}{ind}{rnd.choice(FORMS)}"
            org = "MA" + "".join(rnd.choice(A) for _ in range(7))
            code = "91" + div + org
            code += check(code)
            if rnd.random() < 0.003:
                code = code[:-1] + A[(A.index(code[-1]) + 1) % 31]
            items = rnd.sample(SCOPE, rnd.randint(3, 10))
            if rnd.random() < scope_rate:
                items.insert(rnd.randrange(len(items)), rnd.choice(FIN_SCOPE))
            scope = "；".join(items)
            if rnd.random() < neg_rate:
                scope += NEG
            if rnd.random() < 0.6:
                scope += "。（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
            addr = f"陕西省{place}{rnd.choice(TRADE)}{rnd.choice(TRADE)}路{rnd.randint(1, 999)}号"
            rep = rnd.choice(SURNAMES) + rnd.choice(TRADE)
            date = f"{rnd.randint(2015, 2024)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            f.write(f"{name},{code},\"{scope}\",{addr},{rep},{date},存续\n")

if __name__ == "__main__":
    main()
